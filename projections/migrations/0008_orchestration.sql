-- Multi-vendor orchestration read models (docs/rules/orchestration.md) projected by the
-- `orchestration-postgres` sink (sinks/src/postgres/orchestration.rs) from `partners`,
-- `partner.products` and `negotiation.events`: the partner catalog with its trust score, bundles with
-- their timeline, negotiations, every partner reply as it was read, the user's bundle thread and the
-- legs moved to another partner. Every row is tenant-scoped; money is NUMERIC (never floating point),
-- coordinates DOUBLE PRECISION.
--
-- Snapshot tables (partners, partner_products, bundles, negotiations) keep the newest record of each
-- entity: `(updated_at, source_offset)` of the stored row only ever grows, so a replay, a redelivery
-- or an older snapshot never moves a row backwards (one entity's records share a key, hence a
-- partition, so their offsets are their log order). Append-only tables are keyed by the event id
-- and inserted once (ON CONFLICT DO NOTHING).

-- Every partner as last declared (PartnerUpserted); trust_score and white_glove are derived from its
-- verification and track record (rules T1) when projected.
CREATE TABLE IF NOT EXISTS partners (
    tenant_id           TEXT NOT NULL,
    partner_id          TEXT NOT NULL,
    name                TEXT NOT NULL,
    business_type       TEXT NOT NULL,
    lat                 DOUBLE PRECISION NOT NULL,
    lng                 DOUBLE PRECISION NOT NULL,
    capabilities        TEXT[] NOT NULL,
    -- The partner's WhatsApp number.
    channel_id          TEXT NOT NULL,
    opted_in            BOOLEAN NOT NULL,
    -- none, soft or hard.
    lock_type           TEXT NOT NULL,
    preparation_minutes BIGINT NOT NULL,
    -- 0..=100.
    trust_score         INTEGER NOT NULL,
    white_glove         BOOLEAN NOT NULL,
    -- false = removed.
    active              BOOLEAN NOT NULL,
    last_event_id       TEXT NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    source_offset       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, partner_id)
);

-- Every partner product as last declared (ProductUpserted).
CREATE TABLE IF NOT EXISTS partner_products (
    tenant_id       TEXT NOT NULL,
    product_id      TEXT NOT NULL,
    partner_id      TEXT NOT NULL,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL,
    price           NUMERIC(18,2) NOT NULL,
    currency        TEXT NOT NULL,
    capabilities    TEXT[] NOT NULL,
    -- -1 = unlimited, 0 = out of stock.
    inventory_count BIGINT NOT NULL,
    active          BOOLEAN NOT NULL,
    last_event_id   TEXT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    source_offset   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, product_id)
);
CREATE INDEX IF NOT EXISTS partner_products_by_partner ON partner_products (tenant_id, partner_id, product_id);

-- The latest snapshot of each bundle (BundleUpdated) with its timeline.
CREATE TABLE IF NOT EXISTS bundles (
    tenant_id     TEXT NOT NULL,
    bundle_id     TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    thread_id     TEXT NOT NULL,
    -- open or changing.
    status        TEXT NOT NULL,
    starts_at     TIMESTAMPTZ NOT NULL,
    total_minutes BIGINT NOT NULL,
    -- [BundleLeg] as in the event, with price as a string and starts_at, deadline, arrives_at in RFC 3339.
    legs          JSONB NOT NULL,
    last_event_id TEXT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    source_offset BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, bundle_id)
);

-- The latest snapshot of each negotiation (NegotiationUpdated).
CREATE TABLE IF NOT EXISTS negotiations (
    tenant_id           TEXT NOT NULL,
    negotiation_id      TEXT NOT NULL,
    bundle_id           TEXT NOT NULL,
    leg_id              TEXT NOT NULL,
    -- product_change, price_negotiation or timing_change.
    negotiation_type    TEXT NOT NULL,
    -- rules N1.
    status              TEXT NOT NULL,
    partner_id          TEXT NOT NULL,
    counter_offer_count INTEGER NOT NULL,
    unclear_replies     INTEGER NOT NULL,
    paused              BOOLEAN NOT NULL,
    proposal            TEXT,
    proposal_price      NUMERIC(18,2),
    reason              TEXT,
    last_event_id       TEXT NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    source_offset       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, negotiation_id)
);
CREATE INDEX IF NOT EXISTS negotiations_by_bundle ON negotiations (tenant_id, bundle_id, updated_at, source_offset);
CREATE INDEX IF NOT EXISTS negotiations_by_recency ON negotiations (tenant_id, updated_at DESC, source_offset DESC);

-- Every partner reply as it was read (PartnerReplyClassified), once per event. The offered price and
-- change are kept exactly as read.
CREATE TABLE IF NOT EXISTS negotiation_replies (
    tenant_id              TEXT NOT NULL,
    event_id               TEXT NOT NULL,
    negotiation_id         TEXT NOT NULL,
    bundle_id              TEXT NOT NULL,
    partner_id             TEXT NOT NULL,
    text                   TEXT,
    button_id              TEXT,
    -- accept, reject, counter_offer, frustrated or unclear.
    classification         TEXT NOT NULL,
    offered_item           TEXT,
    offered_price          NUMERIC,
    offered_change_percent NUMERIC,
    -- offline-1 or llm:<model>.
    classifier             TEXT NOT NULL,
    at                     TIMESTAMPTZ NOT NULL,
    source_offset          BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX IF NOT EXISTS negotiation_replies_by_negotiation ON negotiation_replies (tenant_id, negotiation_id, source_offset);

-- The user's bundle thread (UserNotified), once per event. negotiation_id is NULL for a note about
-- the bundle itself. A bundle's events share its partition, so source_offset is their log order.
CREATE TABLE IF NOT EXISTS thread_messages (
    tenant_id      TEXT NOT NULL,
    event_id       TEXT NOT NULL,
    bundle_id      TEXT NOT NULL,
    thread_id      TEXT NOT NULL,
    negotiation_id TEXT,
    kind           TEXT NOT NULL,
    text           TEXT NOT NULL,
    at             TIMESTAMPTZ NOT NULL,
    source_offset  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX IF NOT EXISTS thread_messages_by_bundle ON thread_messages (tenant_id, bundle_id, source_offset);

-- Legs moved to another partner (LegReplaced), once per event.
CREATE TABLE IF NOT EXISTS recoveries (
    tenant_id      TEXT NOT NULL,
    event_id       TEXT NOT NULL,
    negotiation_id TEXT NOT NULL,
    bundle_id      TEXT NOT NULL,
    leg_id         TEXT NOT NULL,
    old_partner_id TEXT NOT NULL,
    new_partner_id TEXT NOT NULL,
    product_id     TEXT NOT NULL,
    item           TEXT NOT NULL,
    price          NUMERIC(18,2) NOT NULL,
    -- New total time − old (negative = faster).
    delay_minutes  BIGINT NOT NULL,
    at             TIMESTAMPTZ NOT NULL,
    source_offset  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX IF NOT EXISTS recoveries_by_bundle ON recoveries (tenant_id, bundle_id, source_offset);
