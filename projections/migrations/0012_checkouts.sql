-- Checkouts of bundles paid with escrow (docs/rules/checkout.md), projected by the
-- `orchestration-postgres` sink from the CheckoutUpdated snapshots on `negotiation.events`: each
-- checkout as last snapshotted (payment, escrow and affiliate status, the money moved) and its legs
-- (each partner's share, the platform's fee, the leg's escrow and the provider's ids). Read by
-- GET /v1/bundles/{bundle_id} (its `checkout`) and GET /v1/bundles/{bundle_id}/checkout.
--
-- A checkout row only moves forward by (updated_at, source_offset), like the other snapshots
-- (0008_orchestration.sql): a replay or an older snapshot never moves it back. Its legs are the
-- snapshot's: replaced whenever the checkout row is, never otherwise. Money is NUMERIC.
CREATE TABLE IF NOT EXISTS checkouts (
    tenant_id            TEXT NOT NULL,
    checkout_id          TEXT NOT NULL,
    bundle_id            TEXT NOT NULL,
    user_id              TEXT NOT NULL,
    thread_id            TEXT NOT NULL,
    status               TEXT NOT NULL,
    payment_status       TEXT NOT NULL,
    escrow_status        TEXT NOT NULL,
    total                NUMERIC(18,2) NOT NULL,
    captured             NUMERIC(18,2) NOT NULL,
    refunded             NUMERIC(18,2) NOT NULL,
    released             NUMERIC(18,2) NOT NULL,
    currency             TEXT NOT NULL,
    -- The provider's PaymentIntent (pi_...) once authorised.
    payment_intent_id    TEXT,
    -- The platform's commission over every leg, the affiliate's share included.
    platform_fee         NUMERIC(18,2) NOT NULL,
    affiliate_id         TEXT,
    affiliate_commission NUMERIC(18,2) NOT NULL,
    affiliate_status     TEXT NOT NULL,
    reason               TEXT,
    last_event_id        TEXT NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    source_offset        BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, checkout_id)
);
-- A bundle's checkouts, the latest first (a failed checkout may be followed by another).
CREATE INDEX IF NOT EXISTS checkouts_by_bundle ON checkouts (tenant_id, bundle_id, updated_at DESC, source_offset DESC);

-- The legs of each checkout's latest snapshot, in the snapshot's order (`position`).
CREATE TABLE IF NOT EXISTS checkout_legs (
    tenant_id            TEXT NOT NULL,
    checkout_id          TEXT NOT NULL,
    leg_id               TEXT NOT NULL,
    partner_id           TEXT NOT NULL,
    partner_name         TEXT NOT NULL,
    item                 TEXT NOT NULL,
    amount               NUMERIC(18,2) NOT NULL,
    partner_share        NUMERIC(18,2) NOT NULL,
    platform_fee         NUMERIC(18,2) NOT NULL,
    affiliate_commission NUMERIC(18,2) NOT NULL,
    status               TEXT NOT NULL,
    escrow_status        TEXT NOT NULL,
    release_trigger      TEXT,
    transfer_id          TEXT,
    refund_id            TEXT,
    -- A replacement leg charged on its own.
    payment_intent_id    TEXT,
    -- The reservation request to the partner.
    negotiation_id       TEXT,
    position             INTEGER NOT NULL,
    -- By position: a leg re-sourced after payment keeps its leg id, beside its replacement.
    PRIMARY KEY (tenant_id, checkout_id, position)
);
