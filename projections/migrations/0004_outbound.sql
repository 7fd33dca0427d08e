-- The WhatsApp dispatcher's ledger: one row per outbound request (idempotency key = the request's
-- event id). SENDING is written before the first HTTP attempt, SENT/FAILED right after Meta's
-- answer, so a redelivered request is answered from here instead of being sent again.
CREATE TABLE IF NOT EXISTS outbound_dispatch (
    tenant_id        TEXT NOT NULL,
    request_event_id TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('SENDING', 'SENT', 'FAILED')),
    -- Meta's message id (SENT).
    wamid            TEXT,
    -- HTTP attempts made so far, across restarts.
    attempts         INT NOT NULL DEFAULT 0,
    -- Last HTTP status / Meta error code / reason (FAILED).
    http_status      INT,
    error_code       INT,
    reason           TEXT,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, request_event_id)
);

CREATE INDEX IF NOT EXISTS outbound_dispatch_by_recipient ON outbound_dispatch (tenant_id, recipient, updated_at);
