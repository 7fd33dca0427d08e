-- The social inbox (docs/rules/inbox.md), projected by the `social-postgres` sink from
-- `social.events` and `notifications.events`, with every sealed field opened through the key ring:
-- what the owner's console reads. Erasing a customer deletes their rows here (rules PR2); a replay
-- after an erasure cannot open their fields, so their rows are never written again.
--
-- Snapshots only move forward by (updated_at, source_offset), like the other read models.

-- One row per conversation (`<platform>-<subject>`).
CREATE TABLE IF NOT EXISTS social_conversations (
    tenant_id        TEXT NOT NULL,
    conversation_id  TEXT NOT NULL,
    platform         TEXT NOT NULL,
    -- The customer's pseudonym (the key of every event about them).
    subject          TEXT NOT NULL,
    -- active, escalated or archived.
    status           TEXT NOT NULL,
    -- The customer's platform id and handle (personal data: deleted on erasure).
    customer_id      TEXT,
    customer_name    TEXT,
    last_message     TEXT,
    last_message_at  TIMESTAMPTZ NOT NULL,
    last_confidence  NUMERIC(4,3),
    unread_count     INT NOT NULL,
    message_count    INT NOT NULL,
    summary          TEXT,
    last_event_id    TEXT NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    source_offset    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id)
);
-- The inbox: escalated first, then the latest.
CREATE INDEX IF NOT EXISTS social_conversations_inbox ON social_conversations (tenant_id, (status = 'escalated') DESC, last_message_at DESC);

-- One row per customer message and its reply (source 002's social_messages), or per reply a person wrote.
CREATE TABLE IF NOT EXISTS social_messages (
    tenant_id          TEXT NOT NULL,
    reply_id           TEXT NOT NULL,
    conversation_id    TEXT NOT NULL,
    platform           TEXT NOT NULL,
    subject            TEXT NOT NULL,
    -- The customer message answered (Instagram mid / WhatsApp wamid); NULL for a written reply.
    platform_message_id TEXT,
    content            TEXT,
    received_at        TIMESTAMPTZ,
    -- pending, auto_sent, escalated, approved, edited, rejected, throttled, sent, delivered, read, failed.
    status             TEXT NOT NULL,
    ai_response        TEXT,
    sent_text          TEXT,
    confidence_score   NUMERIC(4,3),
    threshold          NUMERIC(4,3),
    drafter            TEXT,
    reason             TEXT,
    rule_ids           TEXT[] NOT NULL DEFAULT '{}',
    -- Our sent message's platform id.
    platform_reply_id  TEXT,
    decided_by         TEXT,
    detail             TEXT,
    last_event_id      TEXT NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    source_offset      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, reply_id)
);
-- A platform message is one row (the dedup key source 002 lacks).
CREATE UNIQUE INDEX IF NOT EXISTS social_messages_platform_id ON social_messages (tenant_id, platform, platform_message_id) WHERE platform_message_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS social_messages_by_conversation ON social_messages (tenant_id, conversation_id, received_at);
CREATE INDEX IF NOT EXISTS social_messages_by_status ON social_messages (tenant_id, status, updated_at DESC);

-- Each tenant's notification feed (rules SN1); `seq` is the SSE event id.
CREATE TABLE IF NOT EXISTS notifications (
    tenant_id        TEXT NOT NULL,
    notification_id  TEXT NOT NULL,
    seq              BIGINT NOT NULL,
    kind             TEXT NOT NULL,
    -- high or medium.
    priority         TEXT NOT NULL,
    -- unread, read or resolved.
    status           TEXT NOT NULL,
    title            TEXT NOT NULL,
    body             TEXT NOT NULL,
    -- The first 100 characters of a customer's words (personal data).
    preview          TEXT,
    subject          TEXT,
    context          JSONB NOT NULL,
    link             TEXT,
    raised_at        TIMESTAMPTZ NOT NULL,
    read_at          TIMESTAMPTZ,
    resolved_at      TIMESTAMPTZ,
    last_event_id    TEXT NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    source_offset    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, notification_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS notifications_feed ON notifications (tenant_id, seq);
CREATE INDEX IF NOT EXISTS notifications_by_subject ON notifications (tenant_id, subject) WHERE subject IS NOT NULL;
