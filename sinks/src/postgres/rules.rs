//! The business-rule read model (`rules-postgres` in topology.toml): `rules.events` →
//! `business_rules` and the answers to rule commands in `command_outcomes`
//! (`projections/migrations/0016_rules.sql`). Snapshots only move forward; a deleted rule keeps
//! its row with status `deleted` (the owner chat can say what happened to it).

use super::outcome::Outcome;
use super::runner::{Projection, SinkRecord};
use super::snapshot_upsert;
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use souk_schemas::rules::{RuleCommandRejected, RuleUpdated};
use sqlx::PgConnection;

/// The records of `rules.events`.
#[allow(clippy::large_enum_variant)] // decoded one record at a time
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub enum RuleReadEvent {
    RuleUpdated(RuleUpdated),
    RuleCommandRejected(RuleCommandRejected),
}

/// Projects business rules.
#[derive(Debug, Default, Clone, Copy)]
pub struct RuleProjection;

fn ts(ms: i64, what: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_millis(ms).with_context(|| format!("{what} {ms} is not a time"))
}

const RULE_COLUMNS: [&str; 18] = [
    "tenant_id",
    "rule_id",
    "rule_type",
    "name",
    "description",
    "conditions",
    "action",
    "discount_percent",
    "response_template",
    "priority",
    "status",
    "parser",
    "taught_text",
    "answer",
    "created_at",
    "last_event_id",
    "updated_at",
    "source_offset",
];

impl Projection for RuleProjection {
    type Event = RuleReadEvent;

    fn check(&self, record: &SinkRecord<RuleReadEvent>) -> Result<(), String> {
        let at = match &record.event {
            RuleReadEvent::RuleUpdated(r) => r.envelope.occurred_at,
            RuleReadEvent::RuleCommandRejected(r) => r.envelope.occurred_at,
        };
        ts(at, "occurred_at").map(drop).map_err(|e| e.to_string())
    }

    async fn apply(&self, tx: &mut PgConnection, record: &SinkRecord<RuleReadEvent>) -> anyhow::Result<()> {
        match &record.event {
            RuleReadEvent::RuleUpdated(r) => rule(tx, r, record.offset).await,
            RuleReadEvent::RuleCommandRejected(r) => {
                let outcome = Outcome { command_id: &r.command_id, subject: ("rule_id", &r.rule_id), command: &r.command, accepted: false, code: Some(&r.code), detail: &r.detail };
                outcome.write(tx, &r.envelope, true).await
            }
        }
    }
}

async fn rule(tx: &mut PgConnection, r: &RuleUpdated, offset: i64) -> anyhow::Result<()> {
    sqlx::query(&snapshot_upsert("business_rules", &["tenant_id", "rule_id"], &RULE_COLUMNS))
        .bind(&r.envelope.tenant_id)
        .bind(&r.rule_id)
        .bind(&r.rule_type)
        .bind(&r.name)
        .bind(&r.description)
        .bind(serde_json::to_value(&r.conditions)?)
        .bind(&r.action)
        .bind(r.discount_percent)
        .bind(&r.response_template)
        .bind(r.priority)
        .bind(&r.status)
        .bind(&r.parser)
        .bind(&r.taught_text)
        .bind(&r.answer)
        .bind(ts(r.created_at, "created_at")?)
        .bind(&r.envelope.event_id)
        .bind(ts(r.updated_at, "updated_at")?)
        .bind(offset)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("upserting rule {}", r.rule_id))?;
    let outcome = Outcome { command_id: &r.command_id, subject: ("rule_id", &r.rule_id), command: "rule", accepted: true, code: None, detail: &r.answer };
    outcome.write(tx, &r.envelope, false).await
}
