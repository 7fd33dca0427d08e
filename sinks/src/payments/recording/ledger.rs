//! The stand-in's money: PaymentIntents, refunds and transfers per account (secret key), with
//! Stripe's rules and error answers — capture only from `requires_capture` and at most the
//! capturable amount, cancel only an uncaptured intent, refund at most what was captured and not
//! yet refunded, transfer at most the platform balance (captured − refunded − transferred, per
//! currency; the stand-in has no pending funds). Amounts are minor units, as on the wire.

use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A PaymentIntent as the stand-in holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentIntent {
    /// `pi_rec...`.
    pub id: String,
    /// The secret key (account) that created it.
    pub account: String,
    /// Amount, minor units.
    pub amount: i64,
    /// Still capturable (an authorisation's hold).
    pub amount_capturable: i64,
    /// Captured.
    pub amount_received: i64,
    /// Refunded so far.
    pub amount_refunded: i64,
    /// Lowercase ISO code.
    pub currency: String,
    /// `requires_capture`, `succeeded`, `canceled`, `requires_confirmation`, ...
    pub status: String,
    /// `manual` or `automatic`.
    pub capture_method: String,
    /// `pm_...`.
    pub payment_method: Option<String>,
    /// The checkout it belongs to.
    pub transfer_group: Option<String>,
    /// Why it was canceled.
    pub cancellation_reason: Option<String>,
    /// `metadata[...]` as sent.
    pub metadata: BTreeMap<String, String>,
}

impl PaymentIntent {
    /// Stripe's JSON of the object.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id, "object": "payment_intent", "amount": self.amount, "amount_capturable": self.amount_capturable,
            "amount_received": self.amount_received, "currency": self.currency, "status": self.status,
            "capture_method": self.capture_method, "confirmation_method": "automatic", "payment_method": self.payment_method,
            "transfer_group": self.transfer_group, "cancellation_reason": self.cancellation_reason, "metadata": self.metadata,
            "livemode": self.account.starts_with("sk_live_"), "created": chrono::Utc::now().timestamp(),
        })
    }
}

/// A refund as the stand-in holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// `re_rec...`.
    pub id: String,
    /// The secret key (account) that created it.
    pub account: String,
    /// The refunded PaymentIntent.
    pub payment_intent: String,
    /// Amount, minor units.
    pub amount: i64,
    /// The intent's currency.
    pub currency: String,
    /// Always `succeeded` here.
    pub status: String,
    /// `metadata[...]` as sent.
    pub metadata: BTreeMap<String, String>,
}

impl Refund {
    /// Stripe's JSON of the object.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id, "object": "refund", "amount": self.amount, "currency": self.currency, "status": self.status,
            "payment_intent": self.payment_intent, "metadata": self.metadata, "reason": null, "created": chrono::Utc::now().timestamp(),
        })
    }
}

/// A transfer to a connected account as the stand-in holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// `tr_rec...`.
    pub id: String,
    /// The secret key (account) that created it.
    pub account: String,
    /// Amount, minor units.
    pub amount: i64,
    /// Lowercase ISO code.
    pub currency: String,
    /// `acct_...`.
    pub destination: String,
    /// The checkout it belongs to.
    pub transfer_group: Option<String>,
    /// `metadata[...]` as sent.
    pub metadata: BTreeMap<String, String>,
}

impl Transfer {
    /// Stripe's JSON of the object.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id, "object": "transfer", "amount": self.amount, "amount_reversed": 0, "currency": self.currency,
            "destination": self.destination, "transfer_group": self.transfer_group, "metadata": self.metadata,
            "reversed": false, "livemode": self.account.starts_with("sk_live_"), "created": chrono::Utc::now().timestamp(),
        })
    }
}

/// An answer: status, JSON body, and whether Stripe would store it under the idempotency key
/// (results of an executed endpoint are; validation errors are not).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Reply {
    pub status: u16,
    pub body: Value,
    pub store: bool,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply { status: 200, body, store: true }
    }

    /// Stripe's error object.
    pub fn error(status: u16, kind: &str, code: Option<&str>, message: impl Into<String>, param: Option<&str>) -> Reply {
        let mut error = json!({ "type": kind, "message": message.into() });
        if let Some(c) = code {
            error["code"] = json!(c);
            error["doc_url"] = json!(format!("https://stripe.com/docs/error-codes/{}", c.replace('_', "-")));
        }
        if let Some(p) = param {
            error["param"] = json!(p);
        }
        Reply { status, body: json!({ "error": error }), store: false }
    }

    /// A validation error (not stored: a retry with the same key executes afresh).
    fn invalid(code: &str, message: impl Into<String>, param: &str) -> Reply {
        Reply::error(400, "invalid_request_error", Some(code), message, Some(param))
    }

    /// A refusal of the executed endpoint (stored under the key like any result).
    fn refused(status: u16, kind: &str, code: &str, message: impl Into<String>, param: Option<&str>) -> Reply {
        Reply { store: true, ..Reply::error(status, kind, Some(code), message, param) }
    }
}

/// A request's form parameters.
pub(super) struct Params<'a>(pub &'a [(String, String)]);

impl Params<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn metadata(&self) -> BTreeMap<String, String> {
        self.0.iter().filter_map(|(k, v)| k.strip_prefix("metadata[").and_then(|k| k.strip_suffix(']')).map(|k| (k.to_string(), v.clone()))).collect()
    }

    fn required(&self, name: &str) -> Result<&str, Reply> {
        self.get(name).filter(|v| !v.is_empty()).ok_or_else(|| Reply::invalid("parameter_missing", format!("Missing required param: {name}."), name))
    }

    /// A positive integer amount, if given.
    fn amount(&self, name: &str) -> Result<Option<i64>, Reply> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n > 0 => Ok(Some(n)),
                Ok(_) => Err(Reply::invalid("amount_too_small", format!("Invalid {name}: must be greater than 0."), name)),
                Err(_) => Err(Reply::invalid("parameter_invalid_integer", format!("Invalid integer: {v}"), name)),
            },
        }
    }

    fn currency(&self) -> Result<String, Reply> {
        let c = self.required("currency")?;
        if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_lowercase()) {
            Ok(c.to_string())
        } else {
            Err(Reply::invalid("parameter_invalid_string", format!("Invalid currency: {c}. Stripe currently supports these currencies in lowercase ISO codes."), "currency"))
        }
    }
}

/// Test payment methods that decline, with their decline codes (Stripe's test cards).
const DECLINING: [(&str, &str); 2] = [("pm_card_chargeDeclined", "generic_decline"), ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds")];

/// Every account's objects, in creation order. Each operation answers `Ok` with the object or
/// `Err` with Stripe's error (both are answers; the error side is only for `?`).
#[derive(Debug, Default)]
pub(super) struct Ledger {
    pub intents: Vec<PaymentIntent>,
    pub refunds: Vec<Refund>,
    pub transfers: Vec<Transfer>,
    next: u64,
}

impl Ledger {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}_rec{:08}", self.next)
    }

    fn intent(&mut self, account: &str, id: &str) -> Result<&mut PaymentIntent, Reply> {
        self.intents
            .iter_mut()
            .find(|pi| pi.id == id && pi.account == account)
            .ok_or_else(|| Reply::error(404, "invalid_request_error", Some("resource_missing"), format!("No such payment_intent: '{id}'"), Some("intent")))
    }

    /// Captured − refunded − transferred of `currency`, minor units.
    pub fn balance(&self, account: &str, currency: &str) -> i64 {
        let mine = |a: &str, c: &str| a == account && c == currency;
        let captured: i64 = self.intents.iter().filter(|pi| mine(&pi.account, &pi.currency)).map(|pi| pi.amount_received).sum();
        let refunded: i64 = self.refunds.iter().filter(|r| mine(&r.account, &r.currency)).map(|r| r.amount).sum();
        let transferred: i64 = self.transfers.iter().filter(|t| mine(&t.account, &t.currency)).map(|t| t.amount).sum();
        captured - refunded - transferred
    }

    /// `POST /v1/payment_intents` (confirmed when `confirm=true`; declining test cards answer 402).
    pub(super) fn create_intent(&mut self, account: &str, p: &Params) -> Result<Reply, Reply> {
        let amount = p.amount("amount")?.ok_or_else(|| Reply::invalid("parameter_missing", "Missing required param: amount.", "amount"))?;
        let currency = p.currency()?;
        let capture_method = p.get("capture_method").unwrap_or("automatic").to_string();
        if !["automatic", "automatic_async", "manual"].contains(&capture_method.as_str()) {
            return Err(Reply::invalid("parameter_invalid_string", format!("Invalid capture_method: {capture_method}"), "capture_method"));
        }
        let confirm = p.get("confirm") == Some("true");
        let payment_method = p.get("payment_method").map(str::to_string);
        if confirm && payment_method.is_none() {
            return Err(Reply::invalid("parameter_missing", "You must provide a payment_method to confirm this PaymentIntent.", "payment_method"));
        }
        if let Some((_, decline)) = confirm.then_some(()).and_then(|_| DECLINING.iter().find(|(pm, _)| payment_method.as_deref() == Some(*pm))) {
            let mut reply = Reply::refused(402, "card_error", "card_declined", "Your card was declined.", None);
            reply.body["error"]["decline_code"] = json!(decline);
            return Ok(reply);
        }
        let manual = capture_method == "manual";
        let status = match (confirm, manual) {
            (false, _) if payment_method.is_some() => "requires_confirmation",
            (false, _) => "requires_payment_method",
            (true, true) => "requires_capture",
            (true, false) => "succeeded",
        };
        let pi = PaymentIntent {
            id: self.id("pi"),
            account: account.to_string(),
            amount,
            amount_capturable: if status == "requires_capture" { amount } else { 0 },
            amount_received: if status == "succeeded" { amount } else { 0 },
            amount_refunded: 0,
            currency,
            status: status.into(),
            capture_method,
            payment_method,
            transfer_group: p.get("transfer_group").map(str::to_string),
            cancellation_reason: None,
            metadata: p.metadata(),
        };
        let body = pi.json();
        self.intents.push(pi);
        Ok(Reply::ok(body))
    }

    /// `POST /v1/payment_intents/{id}/capture`.
    pub(super) fn capture(&mut self, account: &str, id: &str, p: &Params) -> Result<Reply, Reply> {
        let wanted = p.amount("amount_to_capture")?;
        let pi = self.intent(account, id)?;
        if pi.status != "requires_capture" {
            let message = format!(
                "This PaymentIntent could not be captured because it has a status of {}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.",
                pi.status
            );
            return Err(Reply::refused(400, "invalid_request_error", "payment_intent_unexpected_state", message, None));
        }
        let amount = wanted.unwrap_or(pi.amount_capturable);
        if amount > pi.amount_capturable {
            let message = format!("The amount_to_capture ({amount}) must be less than or equal to the amount capturable ({}).", pi.amount_capturable);
            return Err(Reply::refused(400, "invalid_request_error", "amount_too_large", message, Some("amount_to_capture")));
        }
        (pi.status, pi.amount_received, pi.amount_capturable) = ("succeeded".into(), amount, 0);
        Ok(Reply::ok(pi.json()))
    }

    /// `POST /v1/payment_intents/{id}/cancel`.
    pub(super) fn cancel(&mut self, account: &str, id: &str, p: &Params) -> Result<Reply, Reply> {
        let reason = p.get("cancellation_reason").map(str::to_string);
        let pi = self.intent(account, id)?;
        if !["requires_payment_method", "requires_capture", "requires_confirmation", "requires_action"].contains(&pi.status.as_str()) {
            let message = format!(
                    "You cannot cancel this PaymentIntent because it has a status of {}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing.",
                    pi.status
                );
            return Err(Reply::refused(400, "invalid_request_error", "payment_intent_unexpected_state", message, None));
        }
        (pi.status, pi.amount_capturable, pi.cancellation_reason) = ("canceled".into(), 0, reason);
        Ok(Reply::ok(pi.json()))
    }

    /// `POST /v1/refunds` (of a PaymentIntent; the whole unrefunded amount by default).
    pub(super) fn refund(&mut self, account: &str, p: &Params) -> Result<Reply, Reply> {
        let intent_id = p.required("payment_intent")?.to_string();
        let wanted = p.amount("amount")?;
        let metadata = p.metadata();
        let id = self.id("re");
        let pi = self.intent(account, &intent_id)?;
        if pi.status != "succeeded" {
            let message = format!("This PaymentIntent ({intent_id}) does not have a successful charge to refund (status {}).", pi.status);
            return Err(Reply::refused(400, "invalid_request_error", "payment_intent_unexpected_state", message, Some("payment_intent")));
        }
        let left = pi.amount_received - pi.amount_refunded;
        if left == 0 {
            return Err(Reply::refused(400, "invalid_request_error", "charge_already_refunded", format!("Charge for {intent_id} has already been refunded."), None));
        }
        let amount = wanted.unwrap_or(left);
        if amount > left {
            let message = format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({left})");
            return Err(Reply::refused(400, "invalid_request_error", "amount_too_large", message, Some("amount")));
        }
        pi.amount_refunded += amount;
        let refund = Refund { id, account: account.to_string(), payment_intent: intent_id, amount, currency: pi.currency.clone(), status: "succeeded".into(), metadata };
        let body = refund.json();
        self.refunds.push(refund);
        Ok(Reply::ok(body))
    }

    /// `POST /v1/transfers` (out of the platform balance of its currency).
    pub(super) fn transfer(&mut self, account: &str, p: &Params) -> Result<Reply, Reply> {
        let amount = p.amount("amount")?.ok_or_else(|| Reply::invalid("parameter_missing", "Missing required param: amount.", "amount"))?;
        let currency = p.currency()?;
        let destination = p.required("destination")?.to_string();
        if !destination.starts_with("acct_") {
            return Err(Reply::invalid("resource_missing", format!("No such destination: '{destination}'"), "destination"));
        }
        let available = self.balance(account, &currency);
        if amount > available {
            let message = format!("You have insufficient available funds in your Stripe account ({available} {currency} available, {amount} requested).");
            return Err(Reply::refused(400, "invalid_request_error", "balance_insufficient", message, None));
        }
        let transfer = Transfer { id: self.id("tr"), account: account.to_string(), amount, currency, destination, transfer_group: p.get("transfer_group").map(str::to_string), metadata: p.metadata() };
        let body = transfer.json();
        self.transfers.push(transfer);
        Ok(Reply::ok(body))
    }
}
