//! The WhatsApp Cloud API send-message call: request bodies (text, or interactive reply buttons
//! for the one call to action of rules A12, always with `biz_opaque_callback_data` = the
//! request's event id), and one HTTP attempt classified into the four [`Outcome`]s the dispatcher
//! treats differently: accepted; permanent; not sent (an outage: refused, 5xx, 429, retryable Meta
//! codes — safe to retry); unknown (the request went out but the answer was lost — Meta may have
//! the message, so it must not simply be sent again). Retrying is the dispatcher's (`plan.rs`).

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

/// Longest `Retry-After` honoured (a larger value is taken as this).
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(60 * 60);

/// Most characters of `biz_opaque_callback_data` Meta takes.
pub const MAX_CALLBACK_DATA: usize = 512;

/// Where and how the dispatcher calls the Cloud API.
#[derive(Debug, Clone)]
pub struct DispatcherSettings {
    /// Graph API base URL (`https://graph.facebook.com`; the recording server's URL in tests).
    pub base_url: String,
    /// Graph API version path segment.
    pub api_version: String,
    /// First retry delay after an outage; doubles per attempt.
    pub backoff: Duration,
    /// Longest retry delay (`Retry-After` is honoured up to [`RETRY_AFTER_MAX`]).
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

/// The dispatcher's timings as topology.toml options of `[sinks.<name>]` (kind
/// `whatsapp-dispatcher`), in milliseconds; every one is optional and defaults to
/// [`DispatcherSettings::default`]. Where the Cloud API is (URL, version) is the deployment's.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatcherOptions {
    /// [`DispatcherSettings::backoff`].
    pub backoff_ms: Option<u64>,
    /// [`DispatcherSettings::backoff_max`].
    pub backoff_max_ms: Option<u64>,
    /// [`DispatcherSettings::request_timeout`].
    pub request_timeout_ms: Option<u64>,
    /// [`DispatcherSettings::connect_timeout`].
    pub connect_timeout_ms: Option<u64>,
    /// [`DispatcherSettings::settle_wait`].
    pub settle_wait_ms: Option<u64>,
    /// [`DispatcherSettings::settle_poll`].
    pub settle_poll_ms: Option<u64>,
    /// [`DispatcherSettings::delivery_window`].
    pub delivery_window_ms: Option<u64>,
    /// [`DispatcherSettings::liveness_after`].
    pub liveness_after_ms: Option<u64>,
}

impl DispatcherOptions {
    /// The settings for the Cloud API at `base_url` / `api_version` with these timings.
    pub fn settings(&self, base_url: &str, api_version: &str) -> DispatcherSettings {
        let d = DispatcherSettings::default();
        let ms = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_millis);
        DispatcherSettings {
            base_url: base_url.to_string(),
            api_version: api_version.to_string(),
            backoff: ms(self.backoff_ms, d.backoff),
            backoff_max: ms(self.backoff_max_ms, d.backoff_max),
            request_timeout: ms(self.request_timeout_ms, d.request_timeout),
            connect_timeout: ms(self.connect_timeout_ms, d.connect_timeout),
            settle_wait: ms(self.settle_wait_ms, d.settle_wait),
            settle_poll: ms(self.settle_poll_ms, d.settle_poll),
            delivery_window: ms(self.delivery_window_ms, d.delivery_window),
            liveness_after: ms(self.liveness_after_ms, d.liveness_after),
        }
    }
}

impl Default for DispatcherSettings {
    fn default() -> Self {
        DispatcherSettings {
            base_url: "https://graph.facebook.com".into(),
            api_version: "v21.0".into(),
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
/// has any (refused above [`MAX_BUTTONS`]: Meta would refuse it too). `biz_opaque_callback_data`
/// is the request's event id: Meta echoes it in every status webhook of the message, which is how
/// an attempt whose answer was lost is settled (same value on every attempt).
pub fn message_body(req: &OutboundMessageRequested) -> Result<Value, String> {
    let callback_data = &req.envelope.event_id;
    if callback_data.chars().count() > MAX_CALLBACK_DATA {
        return Err(format!("event id longer than the {MAX_CALLBACK_DATA} characters of biz_opaque_callback_data"));
    }
    if req.buttons.is_empty() {
        return Ok(json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": req.to,
            "type": "text",
            "text": { "body": req.text },
            "biz_opaque_callback_data": callback_data,
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
        "biz_opaque_callback_data": callback_data,
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
/// transient here; [`attempt`] counts it as unknown (Meta answered success, so it may have it).
pub fn classify(status: u16, body: &str) -> Verdict {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let http_status = Some(status);
    if (200..300).contains(&status) {
        // WhatsApp answers `messages[0].id`, Instagram `message_id`.
        let wamid = parsed.as_ref().and_then(|v| v.pointer("/messages/0/id").or_else(|| v.get("message_id"))).and_then(Value::as_str);
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

/// What one HTTP attempt means for the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Meta accepted it.
    Accepted {
        /// `messages[0].id`.
        wamid: String,
    },
    /// Meta refused it for good (bad request, auth, 131047 outside the window, …).
    Permanent(Failure),
    /// An outage: nothing was accepted (connection refused or not established, 5xx, 429,
    /// retryable Meta codes); safe to send again after a backoff.
    NotSent {
        /// What went wrong.
        failure: Failure,
        /// The server's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// The request went out but no usable answer came back (timeout, connection broken while
    /// waiting, a 2xx without a message id): Meta may have the message.
    Unknown(Failure),
}

/// The last HTTP answer (or transport error) of a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Failure {
    /// HTTP status, if a response came.
    pub http_status: Option<i32>,
    /// Meta error code, if any.
    pub error_code: Option<i32>,
    /// What went wrong.
    pub reason: String,
}

impl Failure {
    /// A failure without an HTTP answer.
    pub fn transport(reason: impl Into<String>) -> Failure {
        Failure { http_status: None, error_code: None, reason: reason.into() }
    }

    fn of(http_status: Option<u16>, code: Option<i64>, reason: String) -> Failure {
        Failure { http_status: http_status.map(i32::from), error_code: code.and_then(|c| i32::try_from(c).ok()), reason }
    }
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Accepted by Meta (its answer, or a status webhook carrying the request's callback data).
    Sent {
        /// Meta's message id.
        wamid: String,
        /// HTTP attempts it took.
        attempts: i32,
    },
    /// Not delivered: a permanent error, or the delivery window closed during an outage.
    Failed {
        /// Last HTTP status.
        http_status: Option<i32>,
        /// Meta error code.
        error_code: Option<i32>,
        /// Why.
        reason: String,
        /// HTTP attempts made.
        attempts: i32,
        /// Some attempt's outcome was unknown and never settled: Meta may have delivered it, so
        /// it is escalated as unconfirmed and not dead-lettered (replaying it could send it twice).
        unconfirmed: bool,
    },
}

impl Delivery {
    /// True for the 24-hour-window error (escalated as OUTSIDE_WINDOW).
    pub fn outside_window(&self) -> bool {
        matches!(self, Delivery::Failed { error_code: Some(c), .. } if i64::from(*c) == OUTSIDE_WINDOW_CODE)
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse::<u64>().ok().map(|s| Duration::from_secs(s).min(RETRY_AFTER_MAX))
}

/// An HTTP client for the Cloud API: `connect_timeout` separates "never reached Meta" (connect
/// errors: nothing sent) from a request that went out and then timed out (unknown).
pub fn client(settings: &DispatcherSettings) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder().connect_timeout(settings.connect_timeout).build()
}

/// One send-message attempt of `body` (from [`message_body`]) for `tenant`.
pub async fn attempt(client: &reqwest::Client, settings: &DispatcherSettings, tenant: &Tenant, req: &OutboundMessageRequested, body: &Value) -> Outcome {
    post_message(client, &settings.messages_url(&tenant.phone_number_id), tenant.access_token.expose(), &req.envelope.event_id, settings.request_timeout, body).await
}

/// One POST of a Graph API send-message call (`url` with `token`), classified: the WhatsApp Cloud
/// API's `/{phone_number_id}/messages` and Instagram's `/me/messages` answer and fail alike.
/// `request_id` travels as [`IDEMPOTENCY_HEADER`] on every attempt of the same request.
pub async fn post_message(client: &reqwest::Client, url: &str, token: &str, request_id: &str, timeout: Duration, body: &Value) -> Outcome {
    let sent = client.post(url).bearer_auth(token).header(IDEMPOTENCY_HEADER, request_id).timeout(timeout).json(body).send().await;
    let resp = match sent {
        Ok(resp) => resp,
        // Connect errors (refused, unreachable, TLS handshake, connect timeout): nothing was sent.
        Err(e) if e.is_connect() || e.is_builder() => return Outcome::NotSent { failure: Failure::transport(format!("transport: {e}")), retry_after: None },
        Err(e) => return Outcome::Unknown(Failure::transport(format!("no answer after the request was sent: {e}"))),
    };
    let status = resp.status().as_u16();
    let after = retry_after(resp.headers());
    let text = match resp.text().await {
        Ok(t) => t,
        Err(e) if (200..300).contains(&status) => return Outcome::Unknown(Failure::of(Some(status), None, format!("HTTP {status}, answer lost: {e}"))),
        Err(_) => String::new(),
    };
    match classify(status, &text) {
        Verdict::Accepted { wamid } => Outcome::Accepted { wamid },
        Verdict::Permanent { http_status, code, reason } => Outcome::Permanent(Failure::of(http_status, code, reason)),
        Verdict::Retry { http_status, code, reason } if (200..300).contains(&status) => Outcome::Unknown(Failure::of(http_status, code, reason)),
        Verdict::Retry { http_status, code, reason } => Outcome::NotSent { failure: Failure::of(http_status, code, reason), retry_after: after },
    }
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
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "919800000001", "type": "text", "text": {"body": "3 m laal cotton, ₹360. Confirm?"}, "biz_opaque_callback_data": request(0).envelope.event_id})
        );
    }

    #[test]
    fn interactive_reply_buttons_and_at_most_three() {
        let body = message_body(&request(2)).expect("body");
        assert_eq!(body["type"], "interactive");
        assert_eq!(body["biz_opaque_callback_data"], json!(request(2).envelope.event_id));
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
