//! The WhatsApp Cloud API send-message call: request bodies (text, or interactive reply buttons
//! for the one call to action of DECISIONS A12), classification of Meta's answers into accepted /
//! retry / permanent, and the retry loop with exponential backoff that honours `Retry-After`.

use serde_json::{json, Value};
use souk_runtime::tenants::Tenant;
use souk_schemas::whatsapp::OutboundMessageRequested;
use std::time::Duration;

/// Header carrying the request's event id on every attempt, so a proxy (or the recording server)
/// can recognise a resend; Meta itself ignores it.
pub const IDEMPOTENCY_HEADER: &str = "X-Souk-Request-Id";

/// Meta error codes that mean "slow down / try again": 2 (service temporarily unavailable),
/// 4 (app call limit), 80007 (WABA rate limit), 130429 (throughput), 131000 (something went
/// wrong), 131016 (service overloaded), 131056 (pair rate limit).
pub const RETRYABLE_CODES: &[i64] = &[2, 4, 80007, 130429, 131000, 131016, 131056];

/// Meta code for "more than 24 hours since the customer last wrote" (re-engagement required).
pub const OUTSIDE_WINDOW_CODE: i64 = 131047;

/// Most reply buttons a message may carry.
pub const MAX_BUTTONS: usize = 3;

/// Where and how the dispatcher calls the Cloud API.
#[derive(Debug, Clone)]
pub struct DispatcherSettings {
    /// Graph API base URL (`https://graph.facebook.com`; the recording server's URL in tests).
    pub base_url: String,
    /// Graph API version path segment.
    pub api_version: String,
    /// HTTP attempts per request before it counts as failed.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt.
    pub backoff: Duration,
    /// Longest retry delay (also caps `Retry-After`).
    pub backoff_max: Duration,
    /// Timeout of one HTTP attempt.
    pub request_timeout: Duration,
    /// Timeout of establishing the connection (a refused or unreachable Cloud API: nothing sent).
    pub connect_timeout: Duration,
    /// How long an attempt whose outcome is unknown (sent, answer lost) waits for the status
    /// webhook that carries its callback data before the message is sent again.
    pub settle_wait: Duration,
    /// How often a message waiting to be settled checks for its status.
    pub settle_poll: Duration,
    /// How long after the request's `occurred_at` the message can still be delivered (WhatsApp's
    /// 24-hour customer-service window); outages are retried until then, then escalated.
    pub delivery_window: Duration,
    /// The sink's liveness probe: lag without progress for this long (outside a deliberate wait
    /// on an outage or an unknown outcome) recreates the consumer.
    pub liveness_after: Duration,
}

impl Default for DispatcherSettings {
    fn default() -> Self {
        DispatcherSettings {
            base_url: "https://graph.facebook.com".into(),
            api_version: "v21.0".into(),
            max_attempts: 5,
            backoff: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            request_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            settle_wait: Duration::from_secs(60),
            settle_poll: Duration::from_secs(1),
            delivery_window: Duration::from_secs(24 * 60 * 60),
            liveness_after: Duration::from_secs(30),
        }
    }
}

impl DispatcherSettings {
    /// `{base}/{version}/{phone_number_id}/messages`.
    pub fn messages_url(&self, phone_number_id: &str) -> String {
        format!("{}/{}/{}/messages", self.base_url.trim_end_matches('/'), self.api_version, phone_number_id)
    }
}

/// The JSON body of the send-message call: text, or interactive reply buttons when the request
/// has any (refused above [`MAX_BUTTONS`]: Meta would refuse it too).
pub fn message_body(req: &OutboundMessageRequested) -> Result<Value, String> {
    if req.buttons.is_empty() {
        return Ok(json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": req.to,
            "type": "text",
            "text": { "body": req.text },
        }));
    }
    if req.buttons.len() > MAX_BUTTONS {
        return Err(format!("{} reply buttons; WhatsApp allows at most {MAX_BUTTONS}", req.buttons.len()));
    }
    let buttons: Vec<Value> = req.buttons.iter().map(|b| json!({ "type": "reply", "reply": { "id": b.id, "title": b.title } })).collect();
    Ok(json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": req.to,
        "type": "interactive",
        "interactive": { "type": "button", "body": { "text": req.text }, "action": { "buttons": buttons } },
    }))
}

/// What one HTTP answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Meta accepted the message.
    Accepted {
        /// `messages[0].id`.
        wamid: String,
    },
    /// Transient: try again after a backoff.
    Retry {
        /// HTTP status, if a response came.
        http_status: Option<u16>,
        /// Meta error code, if any.
        code: Option<i64>,
        /// What went wrong.
        reason: String,
    },
    /// Will never succeed as is.
    Permanent {
        /// HTTP status, if a response came.
        http_status: Option<u16>,
        /// Meta error code, if any.
        code: Option<i64>,
        /// What went wrong.
        reason: String,
    },
}

/// Classifies an HTTP answer. Meta's error `code` decides first (its docs advise building on
/// codes, not HTTP statuses): [`RETRYABLE_CODES`] retry, any other code is permanent; without a
/// code, 429 and 5xx retry and other statuses are permanent. A 2xx without a message id is
/// treated as transient (nothing says Meta took it).
pub fn classify(status: u16, body: &str) -> Verdict {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let http_status = Some(status);
    if (200..300).contains(&status) {
        let wamid = parsed.as_ref().and_then(|v| v.pointer("/messages/0/id")).and_then(Value::as_str);
        return match wamid {
            Some(w) => Verdict::Accepted { wamid: w.to_string() },
            None => Verdict::Retry { http_status, code: None, reason: format!("HTTP {status} without messages[0].id") },
        };
    }
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let code = error.and_then(|e| e.get("code")).and_then(Value::as_i64);
    let message = error.and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or("");
    let details = error.and_then(|e| e.pointer("/error_data/details")).and_then(Value::as_str);
    let reason = match (code, details) {
        (Some(c), Some(d)) => format!("HTTP {status}, code {c}: {message} ({d})"),
        (Some(c), None) => format!("HTTP {status}, code {c}: {message}"),
        (None, _) => format!("HTTP {status}: {}", body.chars().take(200).collect::<String>()),
    };
    let retry = match code {
        Some(c) => RETRYABLE_CODES.contains(&c),
        None => status == 429 || status >= 500,
    };
    if retry {
        Verdict::Retry { http_status, code, reason }
    } else {
        Verdict::Permanent { http_status, code, reason }
    }
}

/// How a request ended after all attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Accepted by Meta.
    Sent {
        /// Meta's message id.
        wamid: String,
        /// HTTP attempts it took.
        attempts: i32,
    },
    /// Not sent: a permanent error, or retries exhausted.
    Failed {
        /// Last HTTP status.
        http_status: Option<i32>,
        /// Meta error code.
        error_code: Option<i32>,
        /// Why.
        reason: String,
        /// HTTP attempts made.
        attempts: i32,
    },
}

impl Delivery {
    /// True for the 24-hour-window error (escalated as OUTSIDE_WINDOW).
    pub fn outside_window(&self) -> bool {
        matches!(self, Delivery::Failed { error_code: Some(c), .. } if i64::from(*c) == OUTSIDE_WINDOW_CODE)
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Sends `req` for `tenant`, retrying transient failures up to `max_attempts` HTTP attempts;
/// `prior_attempts` (an earlier run's count, from the ledger) is added to the reported attempts.
pub async fn send(client: &reqwest::Client, settings: &DispatcherSettings, tenant: &Tenant, req: &OutboundMessageRequested, prior_attempts: i32) -> Delivery {
    let body = match message_body(req) {
        Ok(b) => b,
        Err(reason) => return Delivery::Failed { http_status: None, error_code: None, reason, attempts: prior_attempts },
    };
    let url = settings.messages_url(&tenant.phone_number_id);
    let mut delay = settings.backoff;
    let mut attempts = prior_attempts;
    for attempt in 1..=settings.max_attempts.max(1) {
        attempts += 1;
        let sent = client
            .post(&url)
            .bearer_auth(tenant.access_token.expose())
            .header(IDEMPOTENCY_HEADER, &req.envelope.event_id)
            .timeout(settings.request_timeout)
            .json(&body)
            .send()
            .await;
        let (verdict, wait) = match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let after = retry_after(resp.headers());
                let text = resp.text().await.unwrap_or_default();
                (classify(status, &text), after)
            }
            Err(e) => (Verdict::Retry { http_status: None, code: None, reason: format!("transport: {e}") }, None),
        };
        let (http_status, code, reason) = match verdict {
            Verdict::Accepted { wamid } => return Delivery::Sent { wamid, attempts },
            Verdict::Permanent { http_status, code, reason } => {
                return Delivery::Failed { http_status: http_status.map(i32::from), error_code: code.map(|c| c as i32), reason, attempts };
            }
            Verdict::Retry { http_status, code, reason } => (http_status, code, reason),
        };
        if attempt == settings.max_attempts.max(1) {
            return Delivery::Failed { http_status: http_status.map(i32::from), error_code: code.map(|c| c as i32), reason: format!("gave up after {attempts} attempts: {reason}"), attempts };
        }
        let sleep = wait.unwrap_or(delay).min(settings.backoff_max);
        tracing::warn!(request = %req.envelope.event_id, attempt = attempts, error = %reason, retry_in = ?sleep, "WhatsApp send failed; retrying");
        tokio::time::sleep(sleep).await;
        delay = (delay * 2).min(settings.backoff_max);
    }
    unreachable!("the loop returns on its last attempt")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use souk_schemas::whatsapp::ReplyButton;
    use souk_schemas::Envelope;

    fn request(buttons: usize) -> OutboundMessageRequested {
        OutboundMessageRequested {
            envelope: Envelope::external("acme", "r1", 0),
            to: "919800000001".into(),
            order_id: None,
            purpose: "summary".into(),
            text: "3 m laal cotton, ₹360. Confirm?".into(),
            buttons: (0..buttons).map(|i| ReplyButton { id: format!("b{i}"), title: format!("B{i}") }).collect(),
        }
    }

    #[test]
    fn text_body_without_buttons() {
        assert_eq!(
            message_body(&request(0)).expect("body"),
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "919800000001", "type": "text", "text": {"body": "3 m laal cotton, ₹360. Confirm?"}})
        );
    }

    #[test]
    fn interactive_reply_buttons_and_at_most_three() {
        let body = message_body(&request(2)).expect("body");
        assert_eq!(body["type"], "interactive");
        assert_eq!(
            body["interactive"],
            json!({"type": "button", "body": {"text": "3 m laal cotton, ₹360. Confirm?"}, "action": {"buttons": [
                {"type": "reply", "reply": {"id": "b0", "title": "B0"}},
                {"type": "reply", "reply": {"id": "b1", "title": "B1"}}]}})
        );
        assert!(message_body(&request(3)).is_ok());
        assert!(message_body(&request(4)).is_err());
    }

    #[test]
    fn settings_build_the_messages_url() {
        let s = DispatcherSettings { base_url: "http://127.0.0.1:9/".into(), ..Default::default() };
        assert_eq!(s.messages_url("1001"), "http://127.0.0.1:9/v21.0/1001/messages");
    }

    fn meta(code: i64) -> String {
        json!({"error": {"message": format!("(#{code}) x"), "type": "OAuthException", "code": code, "error_data": {"messaging_product": "whatsapp", "details": "d"}, "fbtrace_id": "A"}}).to_string()
    }

    #[rstest]
    #[case::internal(500, String::new(), true)]
    #[case::bad_gateway(502, "<html>".to_string(), true)]
    #[case::unavailable(503, String::new(), true)]
    #[case::too_many(429, String::new(), true)]
    #[case::throughput(400, meta(130429), true)]
    #[case::pair_rate(400, meta(131056), true)]
    #[case::outside_window(400, meta(131047), false)]
    #[case::bad_request(400, String::new(), false)]
    #[case::unauthorized(401, meta(190), false)]
    #[case::forbidden(403, String::new(), false)]
    fn classification(#[case] status: u16, #[case] body: String, #[case] retry: bool) {
        match classify(status, &body) {
            Verdict::Retry { .. } => assert!(retry, "{status} {body} must be permanent"),
            Verdict::Permanent { .. } => assert!(!retry, "{status} {body} must be retried"),
            Verdict::Accepted { .. } => panic!("not accepted"),
        }
    }

    #[test]
    fn accepted_reads_the_wamid() {
        let body = r#"{"messaging_product":"whatsapp","contacts":[{"input":"1","wa_id":"1"}],"messages":[{"id":"wamid.X"}]}"#;
        assert_eq!(classify(200, body), Verdict::Accepted { wamid: "wamid.X".into() });
        assert!(matches!(classify(200, "{}"), Verdict::Retry { .. }));
    }
}
