//! The business-rule reads (`migrations/0016_rules.sql`): a tenant's rules in the order the reply
//! stage applies them (priority, then id), and one rule with the drafts it was applied to.

use anyhow::Context;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

/// A rule as the owner's console lists it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct RuleRow {
    /// Its id.
    pub id: String,
    /// shipping, returns, pricing, availability or custom.
    #[serde(rename = "type")]
    pub rule_type: String,
    /// A short name.
    pub name: String,
    /// What it does, in one line.
    pub description: String,
    /// `[{field, operator, value}]`.
    pub conditions: serde_json::Value,
    /// discount or answer.
    pub action: String,
    /// A discount's percentage.
    pub discount_percent: Option<Decimal>,
    /// What customers are told.
    pub response_template: String,
    /// Higher first.
    pub priority: i32,
    /// proposed, active, inactive or deleted.
    pub status: String,
    /// The reader that read it.
    pub parser: String,
    /// The owner's words.
    pub taught_text: String,
    /// The owner chat's answer.
    pub answer: String,
    /// How many drafts applied it.
    pub executions: i64,
    /// When it was taught.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

const SELECT: &str = "SELECT r.rule_id AS id, r.rule_type, r.name, r.description, r.conditions, r.action, r.discount_percent, r.response_template, r.priority, r.status, \
     r.parser, r.taught_text, r.answer, (SELECT count(*) FROM rule_executions e WHERE e.tenant_id = r.tenant_id AND e.rule_id = r.rule_id) AS executions, r.created_at, r.updated_at \
     FROM business_rules r";

/// The tenant's rules in `status` (all but deleted when `None`), in the order they apply.
pub async fn rules(db: &mut sqlx::PgConnection, tenant: &str, status: Option<&str>) -> anyhow::Result<Vec<RuleRow>> {
    sqlx::query_as(&format!("{SELECT} WHERE r.tenant_id = $1 AND (($2::text IS NULL AND r.status <> 'deleted') OR r.status = $2) ORDER BY r.priority DESC, r.rule_id"))
        .bind(tenant)
        .bind(status)
        .fetch_all(&mut *db)
        .await
        .with_context(|| format!("reading the rules of tenant {tenant}"))
}

/// One rule, whatever its status.
pub async fn rule(db: &mut sqlx::PgConnection, tenant: &str, rule_id: &str) -> anyhow::Result<Option<RuleRow>> {
    sqlx::query_as(&format!("{SELECT} WHERE r.tenant_id = $1 AND r.rule_id = $2")).bind(tenant).bind(rule_id).fetch_optional(&mut *db).await.with_context(|| format!("reading rule {rule_id}"))
}
