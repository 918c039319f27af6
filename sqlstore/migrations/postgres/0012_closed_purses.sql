-- A closed account's purses take no more money; the ledger refuses them.
ALTER TABLE purses ADD COLUMN closed BOOLEAN NOT NULL DEFAULT false;
UPDATE purses SET closed = true WHERE owner IN (SELECT id FROM members WHERE closed_at IS NOT NULL);
