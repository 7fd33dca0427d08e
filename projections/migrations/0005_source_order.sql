-- The position of the record a row came from, to order rows with the same occurred_at. Processors
-- stamp outputs with their partition's stream time, which ticks can hold above several messages'
-- own times, so two replies decided within one tick interval share occurred_at. Customer topics
-- are keyed by customer, so within one customer and one direction (messages) or one kind (order
-- history) the offset is the order in which souk decided them.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS source_offset BIGINT;
ALTER TABLE order_history ADD COLUMN IF NOT EXISTS source_offset BIGINT;
CREATE INDEX IF NOT EXISTS messages_by_customer_in_order ON messages (tenant_id, customer, occurred_at, direction, source_offset);
