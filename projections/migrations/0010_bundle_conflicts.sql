-- What adding an item to a leg did to its deadline (ConflictSimulated, rules TC2/TC3), once per
-- event: the new arrival, the delay and, over 10 minutes late, the separate-delivery suggestion
-- with the courier's price. Read with the bundle (GET /v1/bundles/{id}).
CREATE TABLE IF NOT EXISTS bundle_conflicts (
    tenant_id           TEXT NOT NULL,
    event_id            TEXT NOT NULL,
    command_id          TEXT NOT NULL,
    bundle_id           TEXT NOT NULL,
    leg_id              TEXT NOT NULL,
    leg_name            TEXT NOT NULL,
    item                TEXT NOT NULL,
    has_conflict        BOOLEAN NOT NULL,
    time_impact_minutes BIGINT NOT NULL,
    new_arrival         TIMESTAMPTZ NOT NULL,
    deadline            TIMESTAMPTZ NOT NULL,
    delay_minutes       BIGINT NOT NULL,
    suggestion          TEXT,
    suggestion_message  TEXT,
    courier_cost        NUMERIC(18,2),
    at                  TIMESTAMPTZ NOT NULL,
    source_offset       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX IF NOT EXISTS bundle_conflicts_by_bundle ON bundle_conflicts (tenant_id, bundle_id, source_offset);
