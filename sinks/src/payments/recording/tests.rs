//! The stand-in over HTTP (idempotent replay, declines, ledger rules, outages, held answers), and
//! the dispatcher's calls ([`crate::payments::stripe`]) against it.

use super::*;
use crate::payments::stripe::{attempt, call_for, client, PaymentsSettings, Verdict};
use serde_json::json;
use souk_schemas::payments::{action, PaymentCommand};
use souk_schemas::Envelope;

const KEY: &str = "sk_test_acme";

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn of(stripe: &RecordingStripe) -> Api {
        Api { http: reqwest::Client::new(), base: stripe.base_url() }
    }

    /// POSTs `params` with `KEY` and `idempotency_key`; status, `Idempotent-Replayed`, body.
    async fn post(&self, path: &str, idempotency_key: Option<&str>, params: &[(&str, &str)]) -> (u16, bool, Value) {
        self.post_as(KEY, path, idempotency_key, params).await
    }

    async fn post_as(&self, secret: &str, path: &str, idempotency_key: Option<&str>, params: &[(&str, &str)]) -> (u16, bool, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).bearer_auth(secret).form(params);
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        let resp = req.send().await.expect("stand-in answers");
        let replayed = resp.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
        (resp.status().as_u16(), replayed, resp.json().await.expect("JSON"))
    }

    async fn authorize(&self, key: &str, amount: &str) -> String {
        let params = [("amount", amount), ("currency", "eur"), ("payment_method", "pm_card_visa"), ("confirm", "true"), ("capture_method", "manual")];
        let (status, _, body) = self.post("/v1/payment_intents", Some(key), &params).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("requires_capture")), "{body}");
        body["id"].as_str().unwrap().to_string()
    }
}

#[tokio::test]
async fn the_first_request_with_a_key_executes_once_and_later_ones_replay_it() {
    let stripe = RecordingStripe::start().await.unwrap();
    let api = Api::of(&stripe);
    let params = [("amount", "5500"), ("currency", "eur"), ("payment_method", "pm_card_visa"), ("confirm", "true"), ("capture_method", "manual"), ("metadata[command_id]", "c1")];
    let (status, replayed, first) = api.post("/v1/payment_intents", Some("c1"), &params).await;
    assert_eq!((status, replayed), (200, false));
    assert_eq!((first["object"].as_str(), first["amount"].as_i64(), first["amount_capturable"].as_i64()), (Some("payment_intent"), Some(5500), Some(5500)));
    assert_eq!(first["metadata"], json!({"command_id": "c1"}));
    assert!(first["id"].as_str().is_some_and(|id| id.starts_with("pi_")));
    let (status, replayed, again) = api.post("/v1/payment_intents", Some("c1"), &params).await;
    assert_eq!((status, replayed, &again), (200, true, &first), "the stored answer, flagged as a replay");
    assert_eq!(stripe.payment_intents().len(), 1, "executed once");

    let other = [("amount", "9900"), ("currency", "eur"), ("payment_method", "pm_card_visa"), ("confirm", "true")];
    let (status, _, mismatch) = api.post("/v1/payment_intents", Some("c1"), &other).await;
    assert_eq!((status, mismatch["error"]["type"].as_str()), (400, Some("idempotency_error")));
    let (status, _, _) = api.post_as("sk_test_other", "/v1/payment_intents", Some("c1"), &other).await;
    assert_eq!(status, 200, "keys are per account");
    let (status, _, unauthorized) = api.post_as("pk_test_x", "/v1/payment_intents", Some("c2"), &params).await;
    assert_eq!((status, unauthorized["error"]["type"].as_str()), (401, Some("invalid_request_error")));
    assert_eq!(stripe.payment_intents().len(), 2);

    let log = stripe.requests();
    assert_eq!(log.iter().map(|r| (r.status, r.replayed)).collect::<Vec<_>>(), vec![(200, false), (200, true), (400, false), (200, false), (401, false)]);
    assert_eq!((log[0].idempotency_key.as_deref(), log[0].secret_key.as_deref(), log[0].param("amount")), (Some("c1"), Some(KEY), Some("5500")));
    assert_eq!(log[0].params[0], ("amount".to_string(), "5500".to_string()), "in the order sent");
}

#[tokio::test]
async fn a_declined_card_is_refused_and_its_answer_stored_under_the_key() {
    let stripe = RecordingStripe::start().await.unwrap();
    let api = Api::of(&stripe);
    let params = [("amount", "5500"), ("currency", "eur"), ("payment_method", "pm_card_chargeDeclined"), ("confirm", "true"), ("capture_method", "manual")];
    let expected = json!({"error": {"type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined.", "doc_url": "https://stripe.com/docs/error-codes/card-declined"}});
    let (status, replayed, body) = api.post("/v1/payment_intents", Some("d1"), &params).await;
    assert_eq!((status, replayed, &body), (402, false, &expected));
    let (status, replayed, body) = api.post("/v1/payment_intents", Some("d1"), &params).await;
    assert_eq!((status, replayed, &body), (402, true, &expected));
    assert!(stripe.payment_intents().is_empty());
}

#[tokio::test]
async fn captures_cancels_refunds_and_transfers_follow_stripes_rules() {
    let stripe = RecordingStripe::start().await.unwrap();
    let api = Api::of(&stripe);
    let code = |body: &Value| body["error"]["code"].as_str().map(str::to_string);
    let pi = api.authorize("a1", "5500").await;
    let capture = format!("/v1/payment_intents/{pi}/capture");
    let (status, _, body) = api.post(&capture, Some("k1"), &[("amount_to_capture", "6000")]).await;
    assert_eq!((status, code(&body).as_deref()), (400, Some("amount_too_large")));
    let (status, _, body) = api.post(&capture, Some("k2"), &[("amount_to_capture", "5000")]).await;
    assert_eq!((status, body["status"].as_str(), body["amount_received"].as_i64(), body["amount_capturable"].as_i64()), (200, Some("succeeded"), Some(5000), Some(0)));
    let (status, _, body) = api.post(&capture, Some("k3"), &[]).await;
    assert_eq!((status, code(&body).as_deref()), (400, Some("payment_intent_unexpected_state")), "captured once");
    let (status, _, body) = api.post(&format!("/v1/payment_intents/{pi}/cancel"), Some("k4"), &[("cancellation_reason", "abandoned")]).await;
    assert_eq!((status, code(&body).as_deref()), (400, Some("payment_intent_unexpected_state")), "a captured intent cannot be canceled");
    assert_eq!(stripe.balance(KEY, "eur"), 5000);

    let (status, _, body) = api.post("/v1/refunds", Some("k5"), &[("payment_intent", &pi), ("amount", "1000"), ("metadata[leg_id]", "l1")]).await;
    assert_eq!((status, body["object"].as_str(), body["status"].as_str(), body["amount"].as_i64()), (200, Some("refund"), Some("succeeded"), Some(1000)));
    assert!(body["id"].as_str().is_some_and(|id| id.starts_with("re_")));
    let (status, _, body) = api.post("/v1/refunds", Some("k6"), &[("payment_intent", &pi), ("amount", "4001")]).await;
    assert_eq!((status, code(&body).as_deref()), (400, Some("amount_too_large")), "at most captured − refunded");
    assert_eq!(stripe.balance(KEY, "eur"), 4000);

    let transfer = |amount: &'static str| [("amount", amount), ("currency", "eur"), ("destination", "acct_partner"), ("transfer_group", "co-1")];
    let (status, _, body) = api.post("/v1/transfers", Some("k7"), &transfer("4001")).await;
    assert_eq!((status, code(&body).as_deref()), (400, Some("balance_insufficient")));
    let (status, _, body) = api.post("/v1/transfers", Some("k8"), &transfer("4000")).await;
    assert_eq!((status, body["object"].as_str(), body["destination"].as_str(), body["transfer_group"].as_str()), (200, Some("transfer"), Some("acct_partner"), Some("co-1")));
    assert_eq!((stripe.balance(KEY, "eur"), stripe.balance("sk_test_other", "eur")), (0, 0));
    assert_eq!((stripe.refunds().len(), stripe.transfers().len()), (1, 1));

    let held = api.authorize("a2", "3000").await;
    let (status, _, body) = api.post(&format!("/v1/payment_intents/{held}/cancel"), Some("k9"), &[("cancellation_reason", "abandoned")]).await;
    assert_eq!((status, body["status"].as_str(), body["cancellation_reason"].as_str(), body["amount_capturable"].as_i64()), (200, Some("canceled"), Some("abandoned"), Some(0)));
    let (status, _, body) = api.post(&format!("/v1/payment_intents/{held}/capture"), Some("k10"), &[]).await;
    assert_eq!((status, code(&body).as_deref()), (400, Some("payment_intent_unexpected_state")));
    let (status, _, body) = api.post("/v1/payment_intents/pi_nope/capture", Some("k11"), &[]).await;
    assert_eq!((status, code(&body).as_deref()), (404, Some("resource_missing")));
}

#[tokio::test]
async fn scripted_outages_apply_nothing_and_held_answers_wait_for_release() {
    let stripe = RecordingStripe::start().await.unwrap();
    let api = Api::of(&stripe);
    let pi = api.authorize("a1", "2000").await;
    let capture = format!("/v1/payment_intents/{pi}/capture");
    stripe.fail_next("/v1/payment_intents/", 2, 500);
    for _ in 0..2 {
        let (status, replayed, body) = api.post(&capture, Some("c1"), &[]).await;
        assert_eq!((status, replayed, body["error"]["type"].as_str()), (500, false, Some("api_error")));
    }
    assert_eq!(stripe.payment_intents()[0].status, "requires_capture", "nothing applied");

    stripe.hold_after_apply("/v1/payment_intents/");
    let request = tokio::spawn({
        let api = Api::of(&stripe);
        let capture = capture.clone();
        async move { api.post(&capture, Some("c1"), &[]).await }
    });
    assert!(stripe.wait_held(1, Duration::from_secs(5)).await, "the capture's answer is held");
    assert_eq!(stripe.payment_intents()[0].status, "succeeded", "applied before the answer");
    let (status, replayed, _) = api.post(&capture, Some("c1"), &[]).await;
    assert_eq!((status, replayed), (200, true), "a retry meanwhile replays the stored answer, not held");
    assert!(!request.is_finished());
    stripe.release_held();
    let (status, replayed, body) = tokio::time::timeout(Duration::from_secs(5), request).await.expect("released").unwrap();
    assert_eq!((status, replayed, body["status"].as_str()), (200, false, Some("succeeded")));
    assert_eq!(stripe.held(), 0);
    let log = stripe.requests();
    assert_eq!(
        log.iter().filter(|r| r.path == capture).map(|r| (r.status, r.replayed, r.held)).collect::<Vec<_>>(),
        vec![(500, false, false), (500, false, false), (200, false, true), (200, true, false)]
    );
}

fn command(act: &str, amount: &str, pi: Option<&str>) -> PaymentCommand {
    PaymentCommand {
        envelope: Envelope::external("acme", &format!("{act}-{amount}"), 5),
        command_id: format!("cmd-{act}-{amount}"),
        checkout_id: "co-1".into(),
        bundle_id: "b1".into(),
        action: act.into(),
        amount: amount.parse().unwrap(),
        currency: "EUR".into(),
        payment_method: Some("pm_card_visa".into()),
        payment_intent_id: pi.map(str::to_string),
        destination: Some("acct_partner".into()),
        recipient_kind: Some("partner".into()),
        leg_id: Some("leg-1".into()),
    }
}

#[tokio::test]
async fn the_dispatchers_calls_against_the_stand_in() {
    let stripe = RecordingStripe::start().await.unwrap();
    let settings = PaymentsSettings { base_url: stripe.base_url(), ..Default::default() };
    let http = client(&settings).unwrap();
    let run = |cmd: PaymentCommand| {
        let (http, settings) = (http.clone(), settings.clone());
        async move { attempt(&http, &settings, KEY, &cmd.command_id, &cmd.action, &call_for(&cmd).unwrap()).await }
    };
    let done = |v: Verdict| match v {
        Verdict::Final(a) => a,
        other => panic!("{other:?}"),
    };
    let auth = done(run(command(action::AUTHORIZE, "55.00", None)).await);
    assert_eq!((auth.succeeded, auth.provider_status.as_str()), (true, "requires_capture"));
    let pi = auth.provider_id.clone().unwrap();
    let first = &stripe.requests()[0];
    assert_eq!(
        (first.idempotency_key.as_deref(), first.param("amount"), first.param("currency"), first.param("metadata[checkout_id]")),
        (Some("cmd-authorize-55.00"), Some("5500"), Some("eur"), Some("co-1"))
    );
    assert_eq!(stripe.payment_intents()[0].transfer_group.as_deref(), Some("co-1"));

    stripe.fail_next("/v1/payment_intents/", 1, 503);
    assert!(matches!(run(command(action::CAPTURE, "55.00", Some(&pi))).await, Verdict::Retry { .. }));
    let capture = done(run(command(action::CAPTURE, "55.00", Some(&pi))).await);
    assert_eq!((capture.succeeded, capture.provider_status.as_str()), (true, "succeeded"));
    let again = done(run(command(action::CAPTURE, "55.00", Some(&pi))).await);
    assert_eq!(again, capture, "a redelivered command replays");
    assert!(stripe.requests().last().unwrap().replayed);

    let refund = done(run(command(action::REFUND, "5.00", Some(&pi))).await);
    assert!(refund.succeeded && refund.provider_id.as_deref().is_some_and(|id| id.starts_with("re_")));
    let transfer = done(run(command(action::TRANSFER, "48.13", None)).await);
    assert_eq!((transfer.succeeded, transfer.provider_status.as_str()), (true, "paid"));
    assert_eq!(stripe.balance(KEY, "eur"), 5500 - 500 - 4813);
    let broke = done(run(command(action::TRANSFER, "10.00", None)).await);
    assert_eq!((broke.succeeded, broke.failure_code.as_deref()), (false, Some("balance_insufficient")));

    let declined = done(run(PaymentCommand { payment_method: Some("pm_card_chargeDeclined".into()), ..command(action::CHARGE, "9.99", None) }).await);
    assert_eq!((declined.succeeded, declined.failure_code.as_deref()), (false, Some("card_declined")));
    stripe.fail_next("/v1/refunds", 1, 429);
    assert!(matches!(run(command(action::REFUND, "1.00", Some(&pi))).await, Verdict::Retry { .. }));
    let refused = attempt(&http, &settings, "not-a-key", "cmd-x", action::VOID, &call_for(&command(action::VOID, "1.00", Some(&pi))).unwrap()).await;
    assert!(matches!(refused, Verdict::Final(a) if !a.succeeded), "a 401 is final");
}
