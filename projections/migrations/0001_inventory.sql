-- Inventory read models projected from `inventory.events` by the `inventory-postgres` sink, plus the
-- per-sink offsets table that makes every Postgres sink exactly-once in effect (ARCHITECTURE §4):
-- rows and offsets change in one SQL transaction, and the sink seeks to these offsets on start.
-- Quantities and money are NUMERIC (never floating point).

CREATE TABLE IF NOT EXISTS sink_offsets (
    sink        TEXT    NOT NULL,
    topic       TEXT    NOT NULL,
    partition   INTEGER NOT NULL,
    -- The next offset to apply (last applied offset + 1).
    next_offset BIGINT  NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (sink, topic, partition)
);

-- One row per stock batch of a (tenant, material, color) pool, as of the pool's latest StockLevelChanged.
CREATE TABLE IF NOT EXISTS stock_batches (
    tenant_id        TEXT NOT NULL,
    material         TEXT NOT NULL,
    color            TEXT NOT NULL,
    batch_id         TEXT NOT NULL,
    dye_lot          TEXT,
    rolls            INTEGER NOT NULL,
    meters_per_roll  NUMERIC(18,3) NOT NULL,
    loose_meters     NUMERIC(18,3) NOT NULL,
    held_meters      NUMERIC(18,3) NOT NULL,
    available_meters NUMERIC(18,3) NOT NULL,
    price_per_meter  NUMERIC(18,2),
    received_at      TIMESTAMPTZ NOT NULL,
    last_event_id    TEXT NOT NULL,
    -- occurred_at of the event that last changed the row.
    updated_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, material, color, batch_id)
);

-- Totals of one (tenant, material, color) pool.
CREATE TABLE IF NOT EXISTS stock_pools (
    tenant_id        TEXT NOT NULL,
    material         TEXT NOT NULL,
    color            TEXT NOT NULL,
    on_hand_meters   NUMERIC(18,3) NOT NULL,
    held_meters      NUMERIC(18,3) NOT NULL,
    available_meters NUMERIC(18,3) NOT NULL,
    last_event_id    TEXT NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, material, color)
);

-- Every hold (or rejected hold request) and its latest status.
CREATE TABLE IF NOT EXISTS holds (
    tenant_id     TEXT NOT NULL,
    hold_id       TEXT NOT NULL,
    material      TEXT NOT NULL,
    color         TEXT NOT NULL,
    order_id      TEXT NOT NULL,
    line_id       TEXT NOT NULL,
    -- Held meters; for REJECTED, the requested meters.
    meters        NUMERIC(18,3) NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('HELD', 'COMMITTED', 'RELEASED', 'EXPIRED', 'REJECTED')),
    -- [{batch_id, rolls, loose_meters, cut_meters, meters}] with decimals as strings.
    allocations   JSONB NOT NULL DEFAULT '[]'::jsonb,
    expires_at    TIMESTAMPTZ,
    reason        TEXT,
    last_event_id TEXT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, hold_id)
);

CREATE INDEX IF NOT EXISTS holds_by_pool ON holds (tenant_id, material, color, status);
CREATE INDEX IF NOT EXISTS holds_by_order ON holds (tenant_id, order_id);
