-- Pending invoices by expiry, for the scheduler that records their expiry.
CREATE INDEX invoices_pending_expiry ON invoices(expires_at) WHERE state = 'pending';
