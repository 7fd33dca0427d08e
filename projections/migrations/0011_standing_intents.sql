-- Standing intents (docs/rules/intents.md): each intent's latest snapshot (StandingIntentUpdated,
-- moving only forward by (updated_at, source_offset)) and its progress ledger — thought, activity
-- and event entries from ProgressLogged, the narratives the user reads from Narrated — once per
-- event. A ProgressLogged narrative entry holds the facts the narrator rendered: kept as
-- `narrative_request`, never shown as a narrative. Read by GET /v1/standing-intents[/{id}[/progress]].
CREATE TABLE IF NOT EXISTS standing_intents (
    tenant_id         TEXT NOT NULL,
    intent_id         TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    thread_id         TEXT NOT NULL,
    description       TEXT NOT NULL,
    status            TEXT NOT NULL,
    trust_level       TEXT NOT NULL,
    requires_approval BOOLEAN NOT NULL,
    if_text           TEXT NOT NULL,
    then_text         TEXT NOT NULL,
    checks            JSONB NOT NULL,
    checks_count      BIGINT NOT NULL,
    last_checked_at   TIMESTAMPTZ NOT NULL,
    expires_at        TIMESTAMPTZ NOT NULL,
    approval_due_at   TIMESTAMPTZ,
    bundle_id         TEXT,
    reason            TEXT,
    vendors_found     INT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    last_event_id     TEXT NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    source_offset     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, intent_id)
);
CREATE INDEX IF NOT EXISTS standing_intents_by_user ON standing_intents (tenant_id, user_id, created_at DESC);

CREATE TABLE IF NOT EXISTS progress_ledger (
    tenant_id     TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    subject_kind  TEXT NOT NULL,
    subject_id    TEXT NOT NULL,
    thread_id     TEXT NOT NULL,
    step          BIGINT NOT NULL,
    step_name     TEXT NOT NULL,
    log_type      TEXT NOT NULL,
    status        TEXT NOT NULL,
    text          TEXT NOT NULL,
    reasoning     TEXT,
    context       JSONB,
    card          JSONB,
    renderer      TEXT,
    entry_id      TEXT,
    if_text       TEXT,
    then_text     TEXT,
    at            TIMESTAMPTZ NOT NULL,
    source_topic  TEXT NOT NULL,
    source_offset BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX IF NOT EXISTS progress_ledger_by_subject ON progress_ledger (tenant_id, subject_kind, subject_id, at, step, source_offset);
