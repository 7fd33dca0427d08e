//! Checkout at the edge (docs/rules/checkout.md): a user checks a bundle out with a payment method
//! (optionally for an affiliate who referred them), and the owner confirms a leg's delivery, which
//! releases its escrow. Both go to the bundle's `negotiation.inputs` (keyed `<tenant>|<bundle>`,
//! where the saga lives). The gateway cannot know whether the bundle exists or is ready to pay:
//! those decisions are the negotiation processor's, reported on the checkout's snapshot.

use super::commands::{command_id, envelope, fresh, parse};
use super::orchestration::run;
use super::publisher::{GatewayEvent, Publish};
use super::validate::{decimal, ident, opt_ident, payment_method, payment_token, percent};
use super::GatewayState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use souk_schemas::envelope::SOUK_ID_NAMESPACE;
use souk_schemas::key::BundleKey;
use souk_schemas::payments::{CheckoutRequested, LegDelivered};
use uuid::Uuid;

/// Who referred the user, paid a share of the platform's commission.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AffiliateBody {
    affiliate_id: String,
    /// Their payout account (Stripe `acct_...`).
    payout_account: String,
    /// Their share of the platform's commission, percent.
    #[serde(deserialize_with = "decimal")]
    percent: Decimal,
}

/// Body of `POST /v1/bundles/{bundle_id}/checkout`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckoutBody {
    /// The provider's payment method token (Stripe `pm_...`).
    payment_method: String,
    checkout_id: Option<String>,
    affiliate: Option<AffiliateBody>,
    command_id: Option<String>,
}

/// Body of `POST /v1/bundles/{bundle_id}/legs/{leg_id}/delivered` (optional as a whole).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveredBody {
    confirmed_by: Option<String>,
    command_id: Option<String>,
}

/// The checkout id of a request that names none: derived from the tenant, the bundle and the
/// command, so a retry with the same `command_id` is the same checkout.
fn derived_checkout_id(tenant: &str, bundle_id: &str, command_id: &str) -> String {
    format!("co-{}", Uuid::new_v5(&SOUK_ID_NAMESPACE, format!("{tenant}/checkout/{bundle_id}/{command_id}").as_bytes()))
}

/// `POST /v1/bundles/{bundle_id}/checkout`: one `CheckoutRequested` (rules CO1); whether the bundle
/// can be paid is the processor's decision.
pub async fn checkout(State(state): State<GatewayState>, Path(bundle_id): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, &headers, async |tenant, now| {
        let b: CheckoutBody = parse(body, false)?;
        let bundle_id = ident("bundle_id", &bundle_id)?;
        let payment_method = payment_method("payment_method", &b.payment_method)?;
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let checkout_id = opt_ident("checkout_id", b.checkout_id.as_deref())?.unwrap_or_else(|| derived_checkout_id(tenant, &bundle_id, &command_id));
        let (affiliate_id, affiliate_account, affiliate_percent) = match &b.affiliate {
            Some(a) => {
                (Some(ident("affiliate.affiliate_id", &a.affiliate_id)?), Some(payment_token("affiliate.payout_account", &a.payout_account, "acct_")?), Some(percent("affiliate.percent", a.percent)?))
            }
            None => (None, None, None),
        };
        let event = CheckoutRequested {
            envelope: envelope(tenant, &command_id, now),
            checkout_id: checkout_id.clone(),
            bundle_id: bundle_id.clone(),
            payment_method,
            affiliate_id,
            affiliate_account,
            affiliate_percent,
            intent_id: None,
        };
        let answer = json!({ "command_id": command_id, "status": "accepted", "checkout_id": checkout_id, "bundle_id": bundle_id });
        Ok((vec![Publish::new(BundleKey::of(tenant, &bundle_id), GatewayEvent::Checkout(event))], answer))
    })
    .await
}

/// `POST /v1/bundles/{bundle_id}/legs/{leg_id}/delivered`: one `LegDelivered` (rules CO6), confirmed
/// by `confirmed_by` (default `owner`); the processor releases the leg's escrow if it holds one.
pub async fn delivered(State(state): State<GatewayState>, Path((bundle_id, leg_id)): Path<(String, String)>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, &headers, async |tenant, now| {
        let b: DeliveredBody = parse(body, true)?;
        let (bundle_id, leg_id) = (ident("bundle_id", &bundle_id)?, ident("leg_id", &leg_id)?);
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let event = LegDelivered {
            envelope: envelope(tenant, &command_id, now),
            bundle_id: bundle_id.clone(),
            leg_id: leg_id.clone(),
            confirmed_by: opt_ident("confirmed_by", b.confirmed_by.as_deref())?.unwrap_or_else(|| "owner".into()),
        };
        let answer = json!({ "command_id": command_id, "status": "accepted", "bundle_id": bundle_id, "leg_id": leg_id });
        Ok((vec![Publish::new(BundleKey::of(tenant, &bundle_id), GatewayEvent::LegDelivered(event))], answer))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkout id is stable for one command and differs across tenants, bundles and commands.
    #[test]
    fn derived_checkout_ids_are_deterministic() {
        let id = derived_checkout_id("acme", "b1", "cmd-1");
        assert!(id.starts_with("co-") && Uuid::parse_str(&id[3..]).is_ok_and(|u| u.get_version_num() == 5), "{id}");
        assert_eq!(id, derived_checkout_id("acme", "b1", "cmd-1"));
        for other in [derived_checkout_id("other", "b1", "cmd-1"), derived_checkout_id("acme", "b2", "cmd-1"), derived_checkout_id("acme", "b1", "cmd-2")] {
            assert_ne!(id, other);
        }
    }
}
