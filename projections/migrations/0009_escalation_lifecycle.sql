-- The escalation lifecycle (rules B7) from escalation.events: who has each escalation, its status
-- and priority as the lifecycle says, the assign SLA and whether it was breached, when and how it
-- was resolved. `lifecycle_offset` is the offset of the snapshot applied last (all snapshots of
-- one escalation share a partition), so a replayed or redelivered older snapshot never moves a
-- row backwards. Lifecycle commands answer in command_outcomes like owner commands do; they name
-- an escalation instead of an order.
ALTER TABLE escalations ADD COLUMN IF NOT EXISTS assignee TEXT;
ALTER TABLE escalations ADD COLUMN IF NOT EXISTS assign_due_at TIMESTAMPTZ;
ALTER TABLE escalations ADD COLUMN IF NOT EXISTS sla_breached BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE escalations ADD COLUMN IF NOT EXISTS resolved_at TIMESTAMPTZ;
ALTER TABLE escalations ADD COLUMN IF NOT EXISTS notes TEXT;
ALTER TABLE escalations ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ;
ALTER TABLE escalations ADD COLUMN IF NOT EXISTS lifecycle_offset BIGINT;
CREATE INDEX IF NOT EXISTS escalations_by_kind ON escalations (tenant_id, kind, raised_at);

ALTER TABLE command_outcomes ALTER COLUMN order_id DROP NOT NULL;
ALTER TABLE command_outcomes ADD COLUMN IF NOT EXISTS escalation_id TEXT;
