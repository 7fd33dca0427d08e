-- Business rules of the social inbox (docs/rules/inbox.md BR1–BR5), projected by the
-- `rules-postgres` sink from `rules.events` (the source's `business_rules` table), and the rules
-- each draft applied (`rule_executions`, written by the `social-postgres` sink from the drafts).

CREATE TABLE IF NOT EXISTS business_rules (
    tenant_id          TEXT NOT NULL,
    rule_id            TEXT NOT NULL,
    -- shipping, returns, pricing, availability or custom.
    rule_type          TEXT NOT NULL,
    name               TEXT NOT NULL,
    description        TEXT NOT NULL,
    -- [{field, operator, value}]
    conditions         JSONB NOT NULL,
    -- discount or answer.
    action             TEXT NOT NULL,
    discount_percent   NUMERIC(7,2),
    response_template  TEXT NOT NULL,
    priority           INT NOT NULL,
    -- proposed, active, inactive or deleted.
    status             TEXT NOT NULL,
    parser             TEXT NOT NULL,
    taught_text        TEXT NOT NULL,
    -- The owner chat's last answer about the rule.
    answer             TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    last_event_id      TEXT NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    source_offset      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, rule_id)
);
CREATE INDEX IF NOT EXISTS business_rules_by_priority ON business_rules (tenant_id, status, priority DESC, rule_id);

CREATE TABLE IF NOT EXISTS rule_executions (
    tenant_id        TEXT NOT NULL,
    rule_id          TEXT NOT NULL,
    reply_id         TEXT NOT NULL,
    conversation_id  TEXT NOT NULL,
    occurred_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, rule_id, reply_id)
);

-- Rule commands answer in command_outcomes like the owner's other commands; they name a rule.
ALTER TABLE command_outcomes ADD COLUMN IF NOT EXISTS rule_id TEXT;
