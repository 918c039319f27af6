-- A closed account's purses take no more money; the ledger refuses them.
ALTER TABLE purses ADD COLUMN closed INTEGER NOT NULL DEFAULT 0;
UPDATE purses SET closed = 1 WHERE owner IN (SELECT id FROM members WHERE closed_at IS NOT NULL);
