"""Reading the ledger, never writing it: run history, why, provenance reports, clean."""
