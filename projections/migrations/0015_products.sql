-- Products, variants and stock of the social inbox (docs/rules/inbox.md IV1–IV5), projected by the
-- `products-postgres` sink from `products.events`: what the owner's console lists, and the audit
-- trail of every stock change. Snapshots only move forward by (updated_at, source_offset).

-- One row per product, with its totals as the aggregate computed them.
CREATE TABLE IF NOT EXISTS products (
    tenant_id      TEXT NOT NULL,
    product_id     TEXT NOT NULL,
    name           TEXT NOT NULL,
    description    TEXT NOT NULL,
    category       TEXT NOT NULL,
    base_price     NUMERIC(18,2) NOT NULL,
    -- active or inactive.
    status         TEXT NOT NULL,
    images         JSONB NOT NULL,
    total_stock    BIGINT NOT NULL,
    low_threshold  INT NOT NULL,
    -- available, low_stock or out_of_stock (rules IV3).
    availability   TEXT NOT NULL,
    variant_count  INT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    last_event_id  TEXT NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    source_offset  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, product_id)
);
CREATE INDEX IF NOT EXISTS products_by_category ON products (tenant_id, category, name);

-- One row per variant, rewritten with its product's snapshot.
CREATE TABLE IF NOT EXISTS product_variants (
    tenant_id            TEXT NOT NULL,
    variant_id           TEXT NOT NULL,
    product_id           TEXT NOT NULL,
    position             INT NOT NULL,
    name                 TEXT NOT NULL,
    sku                  TEXT NOT NULL,
    price                NUMERIC(18,2) NOT NULL,
    stock_quantity       BIGINT NOT NULL,
    reserved             BIGINT NOT NULL,
    low_stock_threshold  INT NOT NULL,
    attributes           JSONB NOT NULL,
    status               TEXT NOT NULL,
    last_event_id        TEXT NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    source_offset        BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, variant_id)
);
CREATE INDEX IF NOT EXISTS product_variants_by_product ON product_variants (tenant_id, product_id, position);

-- Every stock change with the levels before and after (once per event).
CREATE TABLE IF NOT EXISTS stock_movements (
    tenant_id       TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    command_id      TEXT NOT NULL,
    product_id      TEXT NOT NULL,
    variant_id      TEXT NOT NULL,
    -- initial, adjustment or reservation.
    movement_type   TEXT NOT NULL,
    quantity        BIGINT NOT NULL,
    previous_stock  BIGINT NOT NULL,
    new_stock       BIGINT NOT NULL,
    reason          TEXT NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL,
    source_offset   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX IF NOT EXISTS stock_movements_by_variant ON stock_movements (tenant_id, variant_id, occurred_at);

-- Holds on a variant (rules IV5), latest state.
CREATE TABLE IF NOT EXISTS product_reservations (
    tenant_id       TEXT NOT NULL,
    reservation_id  TEXT NOT NULL,
    product_id      TEXT NOT NULL,
    variant_id      TEXT NOT NULL,
    quantity        BIGINT NOT NULL,
    -- held, rejected, confirmed, released or expired.
    status          TEXT NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    holder          TEXT,
    reason          TEXT,
    last_event_id   TEXT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    source_offset   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, reservation_id)
);

-- Product commands answer in command_outcomes like the owner's other commands; they name a product.
ALTER TABLE command_outcomes ADD COLUMN IF NOT EXISTS product_id TEXT;
