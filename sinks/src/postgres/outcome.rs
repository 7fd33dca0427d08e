//! The answer to an owner's command about a product or a rule, as `GET /v1/commands/{id}` serves
//! it (`command_outcomes`): written by the sink that projects the aggregate's answer.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// The answer to one command.
pub(crate) struct Outcome<'a> {
    pub command_id: &'a str,
    /// The column naming what the command was about (`product_id`, `rule_id`) and its value.
    pub subject: (&'static str, &'a str),
    pub command: &'a str,
    pub accepted: bool,
    pub code: Option<&'a str>,
    pub detail: &'a str,
}

impl Outcome<'_> {
    /// Writes the outcome; `replace` lets a more specific answer (a movement, a refusal) win over
    /// the generic one of the snapshot that follows it.
    pub async fn write(&self, tx: &mut PgConnection, envelope: &souk_schemas::Envelope, replace: bool) -> anyhow::Result<()> {
        let on_conflict = if replace {
            "DO UPDATE SET accepted = EXCLUDED.accepted, code = EXCLUDED.code, detail = EXCLUDED.detail, occurred_at = EXCLUDED.occurred_at, event_id = EXCLUDED.event_id"
        } else {
            "DO NOTHING"
        };
        let (column, subject) = self.subject;
        let at = DateTime::<Utc>::from_timestamp_millis(envelope.occurred_at).with_context(|| format!("occurred_at {} is not a time", envelope.occurred_at))?;
        sqlx::query(&format!(
            "INSERT INTO command_outcomes (tenant_id, command_id, order_id, {column}, command, accepted, code, detail, occurred_at, event_id) \
             VALUES ($1, $2, NULL, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (tenant_id, command_id) {on_conflict}"
        ))
        .bind(&envelope.tenant_id)
        .bind(self.command_id)
        .bind(subject)
        .bind(self.command)
        .bind(self.accepted)
        .bind(self.code)
        .bind(self.detail)
        .bind(at)
        .bind(&envelope.event_id)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("recording the outcome of {}", self.command_id))?;
        Ok(())
    }
}
