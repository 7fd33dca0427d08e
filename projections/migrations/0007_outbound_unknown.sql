-- The WhatsApp dispatcher's ledger learns two more states (issue 9):
-- UNKNOWN  — an attempt was sent but its answer was lost (timeout, broken connection): Meta may
--            have the message, so it is not sent again before `next_attempt_at` (the end of the
--            bounded wait for the status webhook that carries its callback data);
-- RETRYING — the Cloud API is out (refused, 5xx, 429, retryable codes): nothing was accepted; the
--            next attempt is due at `next_attempt_at` (backoff, Retry-After), until the request's
--            24-hour window closes.
ALTER TABLE outbound_dispatch DROP CONSTRAINT IF EXISTS outbound_dispatch_status_check;
ALTER TABLE outbound_dispatch ADD CONSTRAINT outbound_dispatch_status_check
    CHECK (status IN ('SENDING', 'UNKNOWN', 'RETRYING', 'SENT', 'FAILED'));
-- Not before this time (UNKNOWN: end of the settle wait; RETRYING: the next attempt).
ALTER TABLE outbound_dispatch ADD COLUMN IF NOT EXISTS next_attempt_at TIMESTAMPTZ;
-- Some attempt's outcome was unknown: Meta may have delivered the message.
ALTER TABLE outbound_dispatch ADD COLUMN IF NOT EXISTS unconfirmed BOOLEAN NOT NULL DEFAULT false;

-- What Meta's status webhooks said about each request, found by the `biz_opaque_callback_data`
-- the dispatcher sent (= the request's event id). Written by the dispatcher from whatsapp.status
-- in its batch transaction; the first status wins (it names the wamid Meta gave the message).
CREATE TABLE IF NOT EXISTS outbound_callbacks (
    tenant_id        TEXT NOT NULL,
    request_event_id TEXT NOT NULL,
    wamid            TEXT NOT NULL,
    status           TEXT NOT NULL,
    status_at        TIMESTAMPTZ NOT NULL,
    -- The DeliveryStatus event that reported it.
    event_id         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, request_event_id)
);
