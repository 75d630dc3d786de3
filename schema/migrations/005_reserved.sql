-- scriptflow ledger, schema version 5: no change (a placeholder, replaced by the real step 5).
SELECT 1;
