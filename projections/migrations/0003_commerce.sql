-- Commerce read models projected by the `commerce-postgres` sink (sinks/src/postgres/commerce.rs)
-- from whatsapp.inbound/status/outbound, orders.events, escalations, ledger.inputs and ledger.events:
-- orders and their lines, one session row per customer, the owner's pending approvals, each order's
-- history, the message log, invoices, the customer ledger, payments, reminders, escalations and the
-- answers to owner commands. Every row is tenant-scoped; money is NUMERIC(18,2), meters
-- NUMERIC(18,3) (never floating point). Every write is an idempotent upsert: re-applying an event
-- leaves the rows unchanged.

-- The latest snapshot of each order session (OrderUpdated). The gateway resolves an order's customer
-- with `SELECT customer FROM orders WHERE tenant_id = $1 AND order_id = $2`.
CREATE TABLE IF NOT EXISTS orders (
    tenant_id         TEXT NOT NULL,
    order_id          TEXT NOT NULL,
    customer          TEXT NOT NULL,
    state             TEXT NOT NULL,
    previous_state    TEXT,
    opened_at         TIMESTAMPTZ NOT NULL,
    -- Σ meters × price of the accepted lines, when priced.
    subtotal          NUMERIC(18,2),
    negotiation_turns INTEGER NOT NULL,
    unknown_streak    INTEGER NOT NULL,
    -- What caused the latest change, and the inbound message behind it.
    cause             TEXT NOT NULL,
    cause_wamid       TEXT,
    last_event_id     TEXT NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, order_id)
);
CREATE INDEX IF NOT EXISTS orders_by_state ON orders (tenant_id, state, updated_at DESC);
CREATE INDEX IF NOT EXISTS orders_by_customer ON orders (tenant_id, customer, updated_at DESC);

-- The lines of the latest snapshot, replaced wholesale on every OrderUpdated.
CREATE TABLE IF NOT EXISTS order_lines (
    tenant_id         TEXT NOT NULL,
    order_id          TEXT NOT NULL,
    line_id           TEXT NOT NULL,
    -- 0-based position in the snapshot (the summary's numbering minus one).
    position          INTEGER NOT NULL,
    material          TEXT NOT NULL,
    color             TEXT NOT NULL,
    requested_meters  NUMERIC(18,3) NOT NULL,
    normalized_meters NUMERIC(18,3) NOT NULL,
    status            TEXT NOT NULL,
    replaced_by       TEXT,
    inventory_status  TEXT,
    available_meters  NUMERIC(18,3),
    price_per_meter   NUMERIC(18,2),
    hold_id           TEXT,
    hold_status       TEXT,
    -- [{batch_id, rolls, loose_meters, cut_meters, meters}], decimals as strings.
    allocations       JSONB NOT NULL DEFAULT '[]'::jsonb,
    -- [{material, color, available_meters, price_per_meter}], decimals as strings.
    alternatives      JSONB NOT NULL DEFAULT '[]'::jsonb,
    PRIMARY KEY (tenant_id, order_id, line_id)
);

-- One row per customer: the active order and its state, or the last terminal one (A11).
CREATE TABLE IF NOT EXISTS sessions (
    tenant_id     TEXT NOT NULL,
    customer      TEXT NOT NULL,
    order_id      TEXT NOT NULL,
    state         TEXT NOT NULL,
    -- false once the order reached ORDER_COMPLETED, ORDER_REJECTED or ORDER_CANCELLED (A1).
    active        BOOLEAN NOT NULL,
    opened_at     TIMESTAMPTZ NOT NULL,
    last_event_id TEXT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, customer)
);

-- Exactly the orders in WAITING_OWNER_CONFIRMATION (F.3 test 22); a row is removed when its order
-- leaves that state.
CREATE TABLE IF NOT EXISTS pending_approvals (
    tenant_id     TEXT NOT NULL,
    order_id      TEXT NOT NULL,
    customer      TEXT NOT NULL,
    subtotal      NUMERIC(18,2),
    -- Lines that will be delivered (not CANCELLED or REPLACED).
    active_lines  INTEGER NOT NULL,
    -- When the order entered the state (kept across later snapshots in the same state).
    waiting_since TIMESTAMPTZ NOT NULL,
    last_event_id TEXT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, order_id)
);

-- Everything that happened to an order, for the dashboard: ORDER_UPDATED, COMMAND_OUTCOME,
-- INVOICE_ISSUED, ESCALATION_RAISED and MESSAGE_OUT (outbound messages about the order).
CREATE TABLE IF NOT EXISTS order_history (
    tenant_id   TEXT NOT NULL,
    order_id    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    state       TEXT,
    cause       TEXT,
    detail      JSONB NOT NULL DEFAULT '{}'::jsonb,
    occurred_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, order_id, event_id)
);
CREATE INDEX IF NOT EXISTS order_history_by_time ON order_history (tenant_id, order_id, occurred_at);

-- Every inbound and outbound WhatsApp message (F.3 test 21). message_id: the wamid for inbound
-- messages, the request's event id for outbound ones (their wamid arrives with OutboundDispatched).
CREATE TABLE IF NOT EXISTS messages (
    tenant_id     TEXT NOT NULL,
    message_id    TEXT NOT NULL,
    direction     TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    customer      TEXT NOT NULL,
    order_id      TEXT,
    -- Inbound: text, button_reply, list_reply or unsupported. Outbound: the purpose (NULL until the
    -- request itself is projected, when a dispatcher result arrived first).
    kind          TEXT,
    text          TEXT,
    buttons       JSONB NOT NULL DEFAULT '[]'::jsonb,
    status        TEXT NOT NULL CHECK (status IN ('received', 'pending', 'sent', 'delivered', 'read', 'failed')),
    wamid         TEXT,
    error         JSONB,
    occurred_at   TIMESTAMPTZ NOT NULL,
    last_event_id TEXT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, message_id)
);
CREATE INDEX IF NOT EXISTS messages_by_customer ON messages (tenant_id, customer, occurred_at);
CREATE INDEX IF NOT EXISTS messages_by_order ON messages (tenant_id, order_id, occurred_at);
CREATE INDEX IF NOT EXISTS messages_by_wamid ON messages (tenant_id, wamid);

-- Which order an inbound message belongs to (OrderUpdated.cause_wamid), kept apart from `messages`
-- because the two come from different topics and may be projected in either order.
CREATE TABLE IF NOT EXISTS message_order_links (
    tenant_id TEXT NOT NULL,
    wamid     TEXT NOT NULL,
    order_id  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, wamid)
);

-- The furthest delivery status Meta reported per outbound wamid, so a status that arrives before
-- the dispatcher's OutboundDispatched is not lost.
CREATE TABLE IF NOT EXISTS message_statuses (
    tenant_id TEXT NOT NULL,
    wamid     TEXT NOT NULL,
    status    TEXT NOT NULL,
    error     JSONB,
    status_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, wamid)
);

-- The message status rule: received/pending < sent < delivered < read, moving forward only;
-- failed is final and replaces anything. One definition for every upsert that touches a status.
CREATE OR REPLACE FUNCTION souk_message_status_next(current_status TEXT, incoming TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN incoming IS NULL THEN current_status
        WHEN current_status IS NULL THEN incoming
        WHEN current_status = 'failed' THEN 'failed'
        WHEN incoming = 'failed' THEN 'failed'
        WHEN array_position(ARRAY['received', 'pending', 'sent', 'delivered', 'read'], incoming)
           > array_position(ARRAY['received', 'pending', 'sent', 'delivered', 'read'], current_status)
            THEN incoming
        ELSE current_status
    END
$$;

-- One invoice per order (A5), numbered per tenant.
CREATE TABLE IF NOT EXISTS invoices (
    tenant_id      TEXT NOT NULL,
    invoice_id     TEXT NOT NULL,
    invoice_number TEXT NOT NULL,
    order_id       TEXT NOT NULL,
    customer       TEXT NOT NULL,
    subtotal       NUMERIC(18,2) NOT NULL,
    gst_rate       NUMERIC(6,4) NOT NULL,
    gst_amount     NUMERIC(18,2) NOT NULL,
    total          NUMERIC(18,2) NOT NULL,
    -- [{line_id, material, color, meters, price_per_meter, amount}], decimals as strings.
    lines          JSONB NOT NULL,
    reminder_days  INTEGER NOT NULL,
    issued_at      TIMESTAMPTZ NOT NULL,
    last_event_id  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id),
    UNIQUE (tenant_id, invoice_number),
    UNIQUE (tenant_id, order_id)
);

-- The append-only customer ledger (A6), with the balance after each entry.
CREATE TABLE IF NOT EXISTS ledger_entries (
    tenant_id         TEXT NOT NULL,
    entry_id          TEXT NOT NULL,
    customer          TEXT NOT NULL,
    kind              TEXT NOT NULL,
    -- invoice_id or payment_id.
    reference         TEXT NOT NULL,
    invoice_number    TEXT,
    amount            NUMERIC(18,2) NOT NULL,
    total_invoiced    NUMERIC(18,2) NOT NULL,
    total_paid        NUMERIC(18,2) NOT NULL,
    outstanding_after NUMERIC(18,2) NOT NULL,
    occurred_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, entry_id)
);
CREATE INDEX IF NOT EXISTS ledger_entries_by_customer ON ledger_entries (tenant_id, customer, occurred_at);

-- Each customer's balance as of its latest ledger entry.
CREATE TABLE IF NOT EXISTS ledger_balances (
    tenant_id      TEXT NOT NULL,
    customer       TEXT NOT NULL,
    total_invoiced NUMERIC(18,2) NOT NULL,
    total_paid     NUMERIC(18,2) NOT NULL,
    outstanding    NUMERIC(18,2) NOT NULL,
    last_entry_id  TEXT NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, customer)
);

-- Payments as recorded (idempotent on payment_id: the first record wins).
CREATE TABLE IF NOT EXISTS payments (
    tenant_id   TEXT NOT NULL,
    payment_id  TEXT NOT NULL,
    customer    TEXT NOT NULL,
    amount      NUMERIC(18,2) NOT NULL,
    method      TEXT,
    reference   TEXT,
    recorded_at TIMESTAMPTZ NOT NULL,
    event_id    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, payment_id)
);

-- Overdue reminders the ledger raised.
CREATE TABLE IF NOT EXISTS payment_reminders (
    tenant_id             TEXT NOT NULL,
    event_id              TEXT NOT NULL,
    customer              TEXT NOT NULL,
    outstanding           NUMERIC(18,2) NOT NULL,
    oldest_unpaid_invoice TEXT NOT NULL,
    days_overdue          INTEGER NOT NULL,
    due_at                TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);

-- Things a human must handle (B7 states: pending → assigned → in_progress → resolved; the sink only
-- inserts, so a status changed by the owner is never reset by a replay).
CREATE TABLE IF NOT EXISTS escalations (
    tenant_id     TEXT NOT NULL,
    escalation_id TEXT NOT NULL,
    customer      TEXT,
    order_id      TEXT,
    kind          TEXT NOT NULL,
    priority      TEXT NOT NULL,
    detail        TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending',
    raised_at     TIMESTAMPTZ NOT NULL,
    event_id      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, escalation_id)
);
CREATE INDEX IF NOT EXISTS escalations_by_status ON escalations (tenant_id, status, raised_at);

-- The latest answer to each owner command (UIs poll it after the gateway's 202).
CREATE TABLE IF NOT EXISTS command_outcomes (
    tenant_id   TEXT NOT NULL,
    command_id  TEXT NOT NULL,
    order_id    TEXT NOT NULL,
    command     TEXT NOT NULL,
    accepted    BOOLEAN NOT NULL,
    code        TEXT,
    detail      TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    event_id    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, command_id)
);
