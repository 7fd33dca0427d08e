-- The social dispatcher's ledger (sinks/src/social/): one row per reply sent (or being sent), each
-- write committed on its own as soon as it is known, and every call made to a channel, so that a
-- connection's rolling-hour budget (Instagram: 200 calls/hour) holds across restarts and
-- instances. Rules IB6 (docs/rules/inbox.md).
CREATE TABLE IF NOT EXISTS social_dispatch (
    tenant_id           TEXT NOT NULL,
    reply_id            TEXT NOT NULL,
    platform            TEXT NOT NULL,
    connection_id       TEXT NOT NULL,
    -- SENDING (an attempt in flight), RETRYING, THROTTLED, SENT or FAILED.
    status              TEXT NOT NULL,
    attempts            INT NOT NULL,
    platform_message_id TEXT,
    http_status         INT,
    reason              TEXT,
    next_attempt_at     TIMESTAMPTZ,
    updated_at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, reply_id)
);

-- Every HTTP call to a channel connection, for its rolling-hour budget.
CREATE TABLE IF NOT EXISTS social_send_calls (
    tenant_id     TEXT NOT NULL,
    platform      TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    reply_id      TEXT NOT NULL,
    attempt       INT NOT NULL,
    at            TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, platform, connection_id, reply_id, attempt)
);
CREATE INDEX IF NOT EXISTS social_send_calls_window ON social_send_calls (tenant_id, platform, connection_id, at);
