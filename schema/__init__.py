"""The ledger's SQL, shipped inside the package as ``scriptflow.schema``.

The files here are the public definition of ``.scriptflow/ledger.db``;
``scriptflow.ledger`` applies ``migrations/NNN_*.sql`` in order.
"""
