"""scriptflow serve: a read-only local web app over the ledger (standard library only)."""
