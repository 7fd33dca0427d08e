//! The payment provider's API as the dispatcher speaks it (Stripe's v1 API, or anything
//! compatible): which call a [`PaymentCommand`] is ([`call_for`]: path and form parameters,
//! amounts in minor units by [`minor_units`]), one HTTP attempt of it ([`attempt`], bearer secret
//! key and the command id as `Idempotency-Key`), and what the answer means ([`classify`]): a
//! final [`Answer`] — the expected object, or a permanent refusal with Stripe's error code — or a
//! transient [`Verdict::Retry`] (5xx, 429, a 409 for a key still in use, transport errors). Every
//! retry reuses the command's key, so the provider executes the call at most once and replays its
//! first answer to every later attempt.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::Value;
use souk_schemas::payments::{action, PaymentCommand};
use std::time::Duration;

/// The header naming an attempt's idempotency key (the command id, the same on every attempt).
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Stripe's answer to "may this request be retried" on some errors (`true` overrides the status).
pub const SHOULD_RETRY_HEADER: &str = "Stripe-Should-Retry";

/// Currencies whose amounts are whole units (Stripe's zero-decimal list, lowercase).
pub const ZERO_DECIMAL: [&str; 16] = ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"];

/// Currencies Stripe counts in thousandths whose last digit must be 0 (so at most 2 decimals).
pub const THREE_DECIMAL: [&str; 5] = ["bhd", "jod", "kwd", "omr", "tnd"];

/// Longest `Retry-After` honoured (a larger value is taken as this).
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(5 * 60);

/// Failure codes the dispatcher reports itself, for commands it never sends (the provider's own
/// codes, e.g. `card_declined`, pass through unchanged).
pub mod failure {
    /// The tenant is unknown or has no `payments_secret_key`.
    pub const NOT_CONFIGURED: &str = "not_configured";
    /// Not a positive amount the currency can express (never rounded).
    pub const INVALID_AMOUNT: &str = "invalid_amount";
    /// An unknown action, or one missing what it needs (payment method, intent id, destination).
    pub const INVALID_COMMAND: &str = "invalid_command";
    /// The provider answered 2xx with an object in another status than the action asks for
    /// (e.g. an authorisation that `requires_action`).
    pub const UNEXPECTED_STATUS: &str = "unexpected_status";
}

/// `provider_status` of a command refused before any call.
pub const NOT_SENT: &str = "not_sent";
/// `provider_status` of a call the provider refused without naming an object's status.
pub const FAILED: &str = "failed";
/// `provider_status` of a created transfer (Stripe transfers carry no status of their own).
pub const PAID: &str = "paid";

/// Where and how the dispatcher calls the provider.
#[derive(Debug, Clone)]
pub struct PaymentsSettings {
    /// API base URL (`https://api.stripe.com`; the recording stand-in's URL in tests and the demo).
    pub base_url: String,
    /// First retry delay after a transient failure; doubles per attempt.
    pub backoff: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Timeout of one HTTP attempt (a timed-out call is retried with the same key).
    pub request_timeout: Duration,
    /// Timeout of establishing the connection.
    pub connect_timeout: Duration,
    /// The sink's liveness probe: lag without progress for this long (outside a deliberate
    /// backoff) recreates the consumer.
    pub liveness_after: Duration,
}

impl Default for PaymentsSettings {
    fn default() -> Self {
        PaymentsSettings {
            base_url: "https://api.stripe.com".into(),
            backoff: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            liveness_after: Duration::from_secs(60),
        }
    }
}

impl PaymentsSettings {
    /// The delay before attempt `failures + 1` after `failures` transient failures in a row:
    /// [`backoff`](Self::backoff) doubling up to [`backoff_max`](Self::backoff_max), or the
    /// provider's `Retry-After` when longer (up to [`RETRY_AFTER_MAX`]).
    pub fn retry_in(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let doubled = self.backoff.saturating_mul(1u32 << failures.saturating_sub(1).min(20));
        let backoff = doubled.min(self.backoff_max);
        retry_after.map_or(backoff, |r| backoff.max(r.min(RETRY_AFTER_MAX)))
    }
}

/// The dispatcher's timings as topology.toml options of `[sinks.<name>]` (kind
/// `payments-dispatcher`), in milliseconds; each is optional and defaults to
/// [`PaymentsSettings::default`]. Where the provider is (its URL) is the deployment's.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentsOptions {
    /// [`PaymentsSettings::backoff`].
    pub backoff_ms: Option<u64>,
    /// [`PaymentsSettings::backoff_max`].
    pub max_backoff_ms: Option<u64>,
    /// [`PaymentsSettings::request_timeout`].
    pub request_timeout_ms: Option<u64>,
    /// [`PaymentsSettings::connect_timeout`].
    pub connect_timeout_ms: Option<u64>,
    /// [`PaymentsSettings::liveness_after`].
    pub liveness_after_ms: Option<u64>,
}

impl PaymentsOptions {
    /// The settings for the provider at `base_url` with these timings.
    pub fn settings(&self, base_url: &str) -> PaymentsSettings {
        let d = PaymentsSettings::default();
        let ms = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_millis);
        PaymentsSettings {
            base_url: base_url.to_string(),
            backoff: ms(self.backoff_ms, d.backoff),
            backoff_max: ms(self.max_backoff_ms, d.backoff_max),
            request_timeout: ms(self.request_timeout_ms, d.request_timeout),
            connect_timeout: ms(self.connect_timeout_ms, d.connect_timeout),
            liveness_after: ms(self.liveness_after_ms, d.liveness_after),
        }
    }
}

/// `amount` of `currency` in the provider's minor units: cents for 2-decimal currencies, whole
/// units for [`ZERO_DECIMAL`] ones, thousandths (ending in 0) for [`THREE_DECIMAL`] ones. An
/// amount that is not positive, or has more decimals than the currency allows, is refused — money
/// is never rounded.
pub fn minor_units(amount: Decimal, currency: &str) -> Result<i64, String> {
    let c = currency.to_ascii_lowercase();
    if amount <= Decimal::ZERO {
        return Err(format!("amount {amount} {} is not positive", c.to_uppercase()));
    }
    let (exponent, decimals) = if ZERO_DECIMAL.contains(&c.as_str()) {
        (0, 0)
    } else if THREE_DECIMAL.contains(&c.as_str()) {
        (3, 2)
    } else {
        (2, 2)
    };
    let normalized = amount.normalize();
    if normalized.scale() > decimals {
        return Err(format!("amount {amount} {} has more than the currency's {decimals} decimals", c.to_uppercase()));
    }
    normalized.checked_mul(Decimal::from(10i64.pow(exponent))).and_then(|m| m.trunc().to_i64()).ok_or_else(|| format!("amount {amount} {} is too large", c.to_uppercase()))
}

/// One provider call: `POST {base_url}{path}` with these form parameters, in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `/v1/...`.
    pub path: String,
    /// Form-encoded body (Stripe's `metadata[key]` convention for nested fields).
    pub params: Vec<(String, String)>,
}

/// Why a command is not sent: a failure code of [`failure`] and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// One of [`failure`]'s codes.
    pub code: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl Refusal {
    fn new(code: &'static str, reason: impl Into<String>) -> Refusal {
        Refusal { code, reason: reason.into() }
    }
}

fn required<'a>(value: &'a Option<String>, what: &str, act: &str) -> Result<&'a str, Refusal> {
    value.as_deref().filter(|v| !v.trim().is_empty()).ok_or_else(|| Refusal::new(failure::INVALID_COMMAND, format!("a {act} command needs a {what}")))
}

/// An object id safe to put in a path (`pi_...`: letters, digits, `_`).
fn path_id<'a>(id: &'a str, prefix: &str) -> Result<&'a str, Refusal> {
    let ok = id.starts_with(prefix) && id.len() > prefix.len() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(id)
    } else {
        Err(Refusal::new(failure::INVALID_COMMAND, format!("{id:?} is not a {prefix}... id")))
    }
}

/// The call `cmd` asks for (the contract of `payments.commands`, docs/rules/checkout.md):
/// authorize / charge → `POST /v1/payment_intents` (confirmed, capture manual / automatic),
/// capture → `.../{id}/capture`, void → `.../{id}/cancel`, refund → `/v1/refunds`, transfer →
/// `/v1/transfers`; metadata carries the checkout, bundle, command and leg ids.
pub fn call_for(cmd: &PaymentCommand) -> Result<Call, Refusal> {
    let act = cmd.action.as_str();
    let currency = cmd.currency.trim().to_ascii_lowercase();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_lowercase()) {
        return Err(Refusal::new(failure::INVALID_COMMAND, format!("currency {:?} is not a three-letter ISO code", cmd.currency)));
    }
    let amount = minor_units(cmd.amount, &currency).map_err(|r| Refusal::new(failure::INVALID_AMOUNT, r))?.to_string();
    let p = |k: &str, v: &str| (k.to_string(), v.to_string());
    let mut metadata = vec![p("metadata[checkout_id]", &cmd.checkout_id), p("metadata[bundle_id]", &cmd.bundle_id), p("metadata[command_id]", &cmd.command_id)];
    if let Some(leg) = &cmd.leg_id {
        metadata.push(p("metadata[leg_id]", leg));
    }
    if let Some(kind) = &cmd.recipient_kind {
        metadata.push(p("metadata[recipient_kind]", kind));
    }
    let (path, mut params) = match act {
        action::AUTHORIZE | action::CHARGE => {
            let capture = if act == action::AUTHORIZE { "manual" } else { "automatic" };
            let params = vec![
                p("amount", &amount),
                p("currency", &currency),
                p("payment_method", required(&cmd.payment_method, "payment method", act)?),
                p("confirm", "true"),
                p("capture_method", capture),
                // Confirmed server-side, so no redirect-based payment method can be completed.
                p("automatic_payment_methods[enabled]", "true"),
                p("automatic_payment_methods[allow_redirects]", "never"),
                p("transfer_group", &cmd.checkout_id),
            ];
            ("/v1/payment_intents".to_string(), params)
        }
        action::CAPTURE => {
            let id = path_id(required(&cmd.payment_intent_id, "payment intent id", act)?, "pi_")?;
            return Ok(Call { path: format!("/v1/payment_intents/{id}/capture"), params: vec![p("amount_to_capture", &amount)] });
        }
        action::VOID => {
            let id = path_id(required(&cmd.payment_intent_id, "payment intent id", act)?, "pi_")?;
            return Ok(Call { path: format!("/v1/payment_intents/{id}/cancel"), params: vec![p("cancellation_reason", "abandoned")] });
        }
        action::REFUND => {
            let id = path_id(required(&cmd.payment_intent_id, "payment intent id", act)?, "pi_")?;
            ("/v1/refunds".to_string(), vec![p("payment_intent", id), p("amount", &amount)])
        }
        action::TRANSFER => {
            let destination = path_id(required(&cmd.destination, "destination account", act)?, "acct_")?;
            ("/v1/transfers".to_string(), vec![p("amount", &amount), p("currency", &currency), p("destination", destination), p("transfer_group", &cmd.checkout_id)])
        }
        other => return Err(Refusal::new(failure::INVALID_COMMAND, format!("unknown action {other:?} (known: {})", action::ALL.join(", ")))),
    };
    params.append(&mut metadata);
    Ok(Call { path, params })
}

/// What a command ended in: the fields of its `PaymentResult` besides the command's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The provider did what was asked.
    pub succeeded: bool,
    /// `pi_...`, `re_...` or `tr_...` (also on some failures, e.g. an intent left `requires_action`).
    pub provider_id: Option<String>,
    /// The object's status (`requires_capture`, `succeeded`, `canceled`, `paid` for a transfer),
    /// [`FAILED`] for a refusal, [`NOT_SENT`] for a command never sent.
    pub provider_status: String,
    /// The provider's `error.code` (else `decline_code`, `type`, `http_<status>`), or a [`failure`] code.
    pub failure_code: Option<String>,
    /// The provider's `error.message` (with its decline code), or the dispatcher's reason.
    pub failure_reason: Option<String>,
}

impl Answer {
    /// A command refused before any call.
    pub fn refused(refusal: Refusal) -> Answer {
        Answer { succeeded: false, provider_id: None, provider_status: NOT_SENT.into(), failure_code: Some(refusal.code.into()), failure_reason: Some(refusal.reason) }
    }
}

/// What one HTTP answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Final: report it.
    Final(Answer),
    /// Transient: the same call (same key) again after a backoff.
    Retry {
        /// What went wrong.
        reason: String,
        /// The provider's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
}

/// The statuses a successful answer to `act` may carry (a transfer has none: any 2xx is paid).
fn expected(act: &str) -> &'static [&'static str] {
    match act {
        action::AUTHORIZE => &["requires_capture"],
        action::CHARGE | action::CAPTURE => &["succeeded"],
        action::VOID => &["canceled"],
        // A pending refund is committed: it completes by itself (never asked for again).
        action::REFUND => &["succeeded", "pending"],
        _ => &[],
    }
}

fn text<'a>(v: Option<&'a Value>, field: &str) -> Option<&'a str> {
    v.and_then(|v| v.get(field)).and_then(Value::as_str)
}

/// Classifies the provider's answer `body` with HTTP `status` to a call for action `act`.
/// 2xx: the object, succeeded when in the status the action asks for. 429, 5xx, a 409 whose code
/// is `idempotency_key_in_use` or `lock_timeout` (or any answer with `Stripe-Should-Retry: true`):
/// transient. Any other status (a 402 card error, a 400 the ledger refuses, 401, 404): final
/// failure with Stripe's error code and message.
pub fn classify(act: &str, status: u16, should_retry: Option<bool>, body: &str) -> Verdict {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    if (200..300).contains(&status) {
        let Some(id) = text(parsed.as_ref(), "id") else {
            return Verdict::Retry { reason: format!("HTTP {status} without an object id"), retry_after: None };
        };
        let id = Some(id.to_string());
        if act == action::TRANSFER {
            return Verdict::Final(Answer { succeeded: true, provider_id: id, provider_status: PAID.into(), failure_code: None, failure_reason: None });
        }
        let object_status = text(parsed.as_ref(), "status").unwrap_or_default().to_string();
        let wanted = expected(act);
        if wanted.contains(&object_status.as_str()) {
            return Verdict::Final(Answer { succeeded: true, provider_id: id, provider_status: object_status, failure_code: None, failure_reason: None });
        }
        let reason = format!("the {act} call answered status {object_status:?}, expected {}", wanted.join(" or "));
        return Verdict::Final(Answer { succeeded: false, provider_id: id, provider_status: object_status, failure_code: Some(failure::UNEXPECTED_STATUS.into()), failure_reason: Some(reason) });
    }
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let code = text(error, "code");
    let decline = text(error, "decline_code");
    let message = text(error, "message").map(str::to_string).unwrap_or_else(|| format!("HTTP {status}: {}", body.chars().take(200).collect::<String>()));
    let in_use = status == 409 && matches!(code, Some("idempotency_key_in_use" | "lock_timeout"));
    if should_retry == Some(true) || status == 429 || status >= 500 || in_use {
        return Verdict::Retry { reason: format!("HTTP {status} {}: {message}", code.unwrap_or("")), retry_after: None };
    }
    let intent = error.and_then(|e| e.get("payment_intent"));
    Verdict::Final(Answer {
        succeeded: false,
        provider_id: text(intent, "id").map(str::to_string),
        provider_status: text(intent, "status").unwrap_or(FAILED).to_string(),
        failure_code: Some(code.or(decline).or(text(error, "type")).map_or_else(|| format!("http_{status}"), str::to_string)),
        failure_reason: Some(match decline {
            Some(d) => format!("{message} (decline_code {d})"),
            None => message,
        }),
    })
}

/// An HTTP client for the provider (no redirects: a POST must not turn into a GET elsewhere).
pub fn client(settings: &PaymentsSettings) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder().connect_timeout(settings.connect_timeout).redirect(reqwest::redirect::Policy::none()).build()
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// One attempt of `call` for action `act` with `secret_key` and `idempotency_key`. Every
/// transport failure is transient: with the same key a resend cannot execute twice.
pub async fn attempt(client: &reqwest::Client, settings: &PaymentsSettings, secret_key: &str, idempotency_key: &str, act: &str, call: &Call) -> Verdict {
    let url = format!("{}{}", settings.base_url.trim_end_matches('/'), call.path);
    let sent = client.post(url).bearer_auth(secret_key).header(IDEMPOTENCY_HEADER, idempotency_key).timeout(settings.request_timeout).form(&call.params).send().await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => return Verdict::Retry { reason: format!("transport: {e}"), retry_after: None },
    };
    let status = resp.status().as_u16();
    let retry_after = header(resp.headers(), "retry-after").and_then(|s| s.parse::<u64>().ok()).map(Duration::from_secs);
    let should_retry = header(resp.headers(), SHOULD_RETRY_HEADER).map(|v| v.eq_ignore_ascii_case("true"));
    let body = match resp.text().await {
        Ok(t) => t,
        Err(e) => return Verdict::Retry { reason: format!("HTTP {status}, answer lost: {e}"), retry_after },
    };
    match classify(act, status, should_retry, &body) {
        Verdict::Retry { reason, .. } => Verdict::Retry { reason, retry_after },
        done => done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use souk_schemas::Envelope;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[rstest]
    #[case("55.00", "EUR", Ok(5500))]
    #[case("48.13", "eur", Ok(4813))]
    #[case("0.5", "usd", Ok(50))]
    #[case("1200", "JPY", Ok(1200))]
    #[case("1200.00", "krw", Ok(1200))]
    #[case("12.35", "KWD", Ok(12350))]
    fn amounts_in_minor_units(#[case] amount: &str, #[case] currency: &str, #[case] minor: Result<i64, ()>) {
        assert_eq!(minor_units(d(amount), currency).map_err(|_| ()), minor);
    }

    #[rstest]
    #[case("10.005", "eur", "decimals")]
    #[case("1200.5", "jpy", "decimals")]
    #[case("12.345", "kwd", "decimals")]
    #[case("0", "eur", "not positive")]
    #[case("-3.00", "eur", "not positive")]
    fn money_is_never_rounded(#[case] amount: &str, #[case] currency: &str, #[case] why: &str) {
        let err = minor_units(d(amount), currency).unwrap_err();
        assert!(err.contains(why), "{amount} {currency}: {err}");
    }

    fn command(act: &str) -> PaymentCommand {
        PaymentCommand {
            envelope: Envelope::external("acme", "c1", 5),
            command_id: "cmd-1".into(),
            checkout_id: "co-1".into(),
            bundle_id: "b1".into(),
            action: act.into(),
            amount: d("55.00"),
            currency: "EUR".into(),
            payment_method: Some("pm_card_visa".into()),
            payment_intent_id: Some("pi_1".into()),
            destination: Some("acct_1".into()),
            recipient_kind: None,
            leg_id: None,
        }
    }

    fn params(call: &Call) -> Vec<(&str, &str)> {
        call.params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn authorize_and_charge_create_a_confirmed_payment_intent() {
        let call = call_for(&command(action::AUTHORIZE)).unwrap();
        assert_eq!(call.path, "/v1/payment_intents");
        let p = params(&call);
        for pair in [("amount", "5500"), ("currency", "eur"), ("payment_method", "pm_card_visa"), ("confirm", "true"), ("capture_method", "manual"), ("transfer_group", "co-1")] {
            assert!(p.contains(&pair), "{pair:?} in {p:?}");
        }
        for pair in [("metadata[checkout_id]", "co-1"), ("metadata[bundle_id]", "b1"), ("metadata[command_id]", "cmd-1")] {
            assert!(p.contains(&pair), "{pair:?} in {p:?}");
        }
        let charge = call_for(&command(action::CHARGE)).unwrap();
        assert!(params(&charge).contains(&("capture_method", "automatic")));
        let no_method = PaymentCommand { payment_method: None, ..command(action::AUTHORIZE) };
        assert_eq!(call_for(&no_method).unwrap_err().code, failure::INVALID_COMMAND);
    }

    #[test]
    fn capture_void_refund_and_transfer_calls() {
        let capture = call_for(&command(action::CAPTURE)).unwrap();
        assert_eq!((capture.path.as_str(), params(&capture)), ("/v1/payment_intents/pi_1/capture", vec![("amount_to_capture", "5500")]));
        let void = call_for(&command(action::VOID)).unwrap();
        assert_eq!((void.path.as_str(), params(&void)), ("/v1/payment_intents/pi_1/cancel", vec![("cancellation_reason", "abandoned")]));
        let refund = call_for(&PaymentCommand { leg_id: Some("leg-2".into()), recipient_kind: Some("user".into()), ..command(action::REFUND) }).unwrap();
        assert_eq!(refund.path, "/v1/refunds");
        assert_eq!(&params(&refund)[..2], &[("payment_intent", "pi_1"), ("amount", "5500")]);
        assert!(params(&refund).contains(&("metadata[leg_id]", "leg-2")) && params(&refund).contains(&("metadata[recipient_kind]", "user")));
        let transfer = call_for(&command(action::TRANSFER)).unwrap();
        assert_eq!(transfer.path, "/v1/transfers");
        assert_eq!(&params(&transfer)[..4], &[("amount", "5500"), ("currency", "eur"), ("destination", "acct_1"), ("transfer_group", "co-1")]);
    }

    #[test]
    fn malformed_commands_are_refused_not_sent() {
        let bad = [
            (PaymentCommand { amount: d("10.001"), ..command(action::CAPTURE) }, failure::INVALID_AMOUNT),
            (PaymentCommand { amount: Decimal::ZERO, ..command(action::REFUND) }, failure::INVALID_AMOUNT),
            (PaymentCommand { payment_intent_id: Some("pi_1/../../v1/transfers".into()), ..command(action::CAPTURE) }, failure::INVALID_COMMAND),
            (PaymentCommand { payment_intent_id: None, ..command(action::VOID) }, failure::INVALID_COMMAND),
            (PaymentCommand { destination: Some("someone".into()), ..command(action::TRANSFER) }, failure::INVALID_COMMAND),
            (PaymentCommand { currency: "euro".into(), ..command(action::TRANSFER) }, failure::INVALID_COMMAND),
            (command("payout"), failure::INVALID_COMMAND),
        ];
        for (cmd, code) in bad {
            assert_eq!(call_for(&cmd).map_err(|r| r.code), Err(code), "{cmd:?}");
        }
    }

    fn final_answer(v: Verdict) -> Answer {
        match v {
            Verdict::Final(a) => a,
            other => panic!("not final: {other:?}"),
        }
    }

    #[test]
    fn successes_carry_the_object_id_and_status() {
        let a = final_answer(classify(action::AUTHORIZE, 200, None, r#"{"id":"pi_1","object":"payment_intent","status":"requires_capture"}"#));
        assert_eq!((a.succeeded, a.provider_id.as_deref(), a.provider_status.as_str()), (true, Some("pi_1"), "requires_capture"));
        let t = final_answer(classify(action::TRANSFER, 200, None, r#"{"id":"tr_1","object":"transfer"}"#));
        assert_eq!((t.succeeded, t.provider_id.as_deref(), t.provider_status.as_str()), (true, Some("tr_1"), "paid"));
        let r = final_answer(classify(action::REFUND, 200, None, r#"{"id":"re_1","object":"refund","status":"pending"}"#));
        assert!(r.succeeded);
        let odd = final_answer(classify(action::AUTHORIZE, 200, None, r#"{"id":"pi_2","status":"requires_action"}"#));
        assert_eq!((odd.succeeded, odd.provider_id.as_deref(), odd.failure_code.as_deref()), (false, Some("pi_2"), Some(failure::UNEXPECTED_STATUS)));
        assert!(matches!(classify(action::CAPTURE, 200, None, "<html>"), Verdict::Retry { .. }), "a 2xx without an object is retried (the key replays it)");
    }

    #[test]
    fn a_card_decline_is_final_with_stripes_codes() {
        let body = r#"{"error":{"type":"card_error","code":"card_declined","decline_code":"generic_decline","message":"Your card was declined."}}"#;
        let a = final_answer(classify(action::AUTHORIZE, 402, None, body));
        assert_eq!((a.succeeded, a.failure_code.as_deref(), a.provider_status.as_str()), (false, Some("card_declined"), FAILED));
        assert_eq!(a.failure_reason.as_deref(), Some("Your card was declined. (decline_code generic_decline)"));
    }

    #[rstest]
    #[case::internal(500, "", None, true)]
    #[case::bad_gateway(502, "<html>", None, true)]
    #[case::too_many(429, r#"{"error":{"type":"invalid_request_error","code":"rate_limit"}}"#, None, true)]
    #[case::key_in_use(409, r#"{"error":{"type":"idempotency_error","code":"idempotency_key_in_use"}}"#, None, true)]
    #[case::lock(409, r#"{"error":{"type":"invalid_request_error","code":"lock_timeout"}}"#, None, true)]
    #[case::told_to_retry(400, r#"{"error":{"type":"invalid_request_error"}}"#, Some(true), true)]
    #[case::other_conflict(409, r#"{"error":{"type":"invalid_request_error","code":"resource_already_exists"}}"#, None, false)]
    #[case::mismatch(400, r#"{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters"}}"#, None, false)]
    #[case::balance(400, r#"{"error":{"type":"invalid_request_error","code":"balance_insufficient"}}"#, None, false)]
    #[case::unauthorized(401, r#"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}"#, None, false)]
    #[case::missing(404, r#"{"error":{"type":"invalid_request_error","code":"resource_missing"}}"#, None, false)]
    #[case::declined(402, r#"{"error":{"type":"card_error","code":"card_declined"}}"#, Some(false), false)]
    fn transient_and_permanent_failures(#[case] status: u16, #[case] body: &str, #[case] should_retry: Option<bool>, #[case] retry: bool) {
        match classify(action::CAPTURE, status, should_retry, body) {
            Verdict::Retry { .. } => assert!(retry, "{status} {body} must be final"),
            Verdict::Final(a) => {
                assert!(!retry, "{status} {body} must be retried");
                assert!(!a.succeeded && a.failure_code.is_some(), "{a:?}");
            }
        }
    }

    #[test]
    fn failure_codes_fall_back_to_the_error_type_then_the_status() {
        let typed = final_answer(classify(action::VOID, 401, None, r#"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}"#));
        assert_eq!((typed.failure_code.as_deref(), typed.failure_reason.as_deref()), (Some("invalid_request_error"), Some("Invalid API Key provided")));
        let bare = final_answer(classify(action::VOID, 403, None, "forbidden"));
        assert_eq!(bare.failure_code.as_deref(), Some("http_403"));
    }

    #[test]
    fn backoff_doubles_to_its_cap_and_honours_retry_after() {
        let s = PaymentsSettings::default();
        let secs = |n, after: Option<u64>| s.retry_in(n, after.map(Duration::from_secs)).as_secs();
        assert_eq!([secs(1, None), secs(2, None), secs(3, None), secs(5, None), secs(6, None), secs(60, None)], [1, 2, 4, 16, 30, 30]);
        assert_eq!((secs(1, Some(7)), secs(6, Some(7)), secs(1, Some(3600))), (7, 30, 300));
    }

    #[test]
    fn options_override_the_defaults() {
        let o = PaymentsOptions { backoff_ms: Some(50), max_backoff_ms: Some(400), ..Default::default() };
        let s = o.settings("http://127.0.0.1:9");
        assert_eq!(
            (s.base_url.as_str(), s.backoff, s.backoff_max, s.request_timeout),
            ("http://127.0.0.1:9", Duration::from_millis(50), Duration::from_millis(400), PaymentsSettings::default().request_timeout)
        );
    }
}
