//! Partner and product snapshots → `partners` (with the trust score of rules T1) and
//! `partner_products`.

use super::{snapshot_upsert, Meta};
use anyhow::Context;
use souk_processors::trust::{is_white_glove, score, TrustFacts};
use souk_schemas::bundles::{PartnerUpserted, ProductUpserted};
use sqlx::PgConnection;

const PARTNER_COLUMNS: [&str; 17] = [
    "tenant_id",
    "partner_id",
    "name",
    "business_type",
    "lat",
    "lng",
    "capabilities",
    "channel_id",
    "opted_in",
    "lock_type",
    "preparation_minutes",
    "trust_score",
    "white_glove",
    "active",
    "last_event_id",
    "updated_at",
    "source_offset",
];

const PRODUCT_COLUMNS: [&str; 13] =
    ["tenant_id", "product_id", "partner_id", "name", "description", "price", "currency", "capabilities", "inventory_count", "active", "last_event_id", "updated_at", "source_offset"];

/// What the partner's trust is computed from: its verified documents, positive reviews and on-time
/// rate (a count below zero counts as none; the rate is clamped to 0–100).
pub(super) fn trust_facts(e: &PartnerUpserted) -> TrustFacts {
    TrustFacts {
        licence: e.licence_verified,
        insurance: e.insurance_verified,
        tax_id: e.tax_id_verified,
        positive_reviews: u32::try_from(e.positive_reviews).unwrap_or(0),
        on_time_percent: Some(u8::try_from(e.on_time_percent.clamp(0, 100)).unwrap_or(0)),
    }
}

/// A partner as last declared, with its trust score and White Glove tier.
pub(super) async fn partner(tx: &mut PgConnection, meta: &Meta<'_>, e: &PartnerUpserted) -> anyhow::Result<()> {
    let facts = trust_facts(e);
    let trust_score = i32::try_from(score(&facts)).context("trust score")?;
    let written = sqlx::query(&snapshot_upsert("partners", &["tenant_id", "partner_id"], &PARTNER_COLUMNS))
        .bind(meta.tenant)
        .bind(&e.partner_id)
        .bind(&e.name)
        .bind(&e.business_type)
        .bind(e.lat.0)
        .bind(e.lng.0)
        .bind(&e.capabilities)
        .bind(&e.channel_id)
        .bind(e.opted_in)
        .bind(&e.lock_type)
        .bind(e.preparation_minutes)
        .bind(trust_score)
        .bind(is_white_glove(&facts))
        .bind(e.active)
        .bind(meta.event_id)
        .bind(meta.at)
        .bind(meta.offset)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("upserting partner {}", e.partner_id))?
        .rows_affected();
    if written == 0 {
        tracing::debug!(partner_id = %e.partner_id, event_id = meta.event_id, "older partner snapshot; kept the newer one");
    }
    Ok(())
}

/// A product as last declared.
pub(super) async fn product(tx: &mut PgConnection, meta: &Meta<'_>, e: &ProductUpserted) -> anyhow::Result<()> {
    let written = sqlx::query(&snapshot_upsert("partner_products", &["tenant_id", "product_id"], &PRODUCT_COLUMNS))
        .bind(meta.tenant)
        .bind(&e.product_id)
        .bind(&e.partner_id)
        .bind(&e.name)
        .bind(&e.description)
        .bind(e.price)
        .bind(&e.currency)
        .bind(&e.capabilities)
        .bind(e.inventory_count)
        .bind(e.active)
        .bind(meta.event_id)
        .bind(meta.at)
        .bind(meta.offset)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("upserting product {}", e.product_id))?
        .rows_affected();
    if written == 0 {
        tracing::debug!(product_id = %e.product_id, event_id = meta.event_id, "older product snapshot; kept the newer one");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use souk_schemas::bundles::Degrees;
    use souk_schemas::Envelope;

    fn partner(reviews: i32, on_time: i32) -> PartnerUpserted {
        PartnerUpserted {
            envelope: Envelope::external("acme", "p", 1),
            partner_id: "pa".into(),
            name: "Flower Shop A".into(),
            business_type: "florist".into(),
            lat: Degrees(40.7),
            lng: Degrees(-74.0),
            capabilities: vec!["florist".into()],
            channel: "whatsapp".into(),
            channel_id: "1234567890".into(),
            opted_in: true,
            opens_at: "09:00".into(),
            closes_at: "17:00".into(),
            business_days: vec![1, 2, 3, 4, 5],
            lock_type: "none".into(),
            preparation_minutes: 20,
            licence_verified: true,
            insurance_verified: true,
            tax_id_verified: true,
            positive_reviews: reviews,
            on_time_percent: on_time,
            active: true,
            payout_account: None,
        }
    }

    /// Rules T1's worked example through the partner record; out-of-range facts count as none/100.
    #[test]
    fn trust_follows_the_partners_facts() {
        let f = trust_facts(&partner(0, 0));
        assert_eq!((score(&f), is_white_glove(&f)), (45, false));
        let f = trust_facts(&partner(2, 95));
        assert_eq!((score(&f), is_white_glove(&f)), (100, true));
        assert_eq!(trust_facts(&partner(-3, 250)), TrustFacts { positive_reviews: 0, on_time_percent: Some(100), ..trust_facts(&partner(0, 0)) });
        assert_eq!(trust_facts(&partner(0, -1)).on_time_percent, Some(0));
    }
}
