-- Order rows and ledger entries that share a time: the source offset breaks the tie.
-- The offset of the snapshot an order row holds. Two orders of one customer can share updated_at
-- (stream time held by a tick while a completed order's last update and the next order's opening
-- are decided); both come from the customer's partition of orders.events, so the offset says which
-- one is newer. `/v1/orders` sorts by updated_at DESC, then this.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS source_offset BIGINT;
-- Ledger entries of one customer decided at one stream time (an invoice and a payment in one tick
-- interval) come from the customer's partition of ledger.events: the offset orders them.
ALTER TABLE ledger_entries ADD COLUMN IF NOT EXISTS source_offset BIGINT;
