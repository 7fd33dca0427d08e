//! A local stand-in for the WhatsApp Cloud API send-message endpoint, for tests and `souk demo`
//! (and for Instagram's `POST /{version}/me/messages`, answered `{"recipient_id", "message_id"}`):
//! `POST /{version}/{phone_number_id}/messages` answers like Meta
//! (`{"messaging_product":"whatsapp","contacts":[{"input","wa_id"}],"messages":[{"id":"wamid.…"}]}`),
//! records every request (path, headers, body, the answer's status) and can be scripted to fail
//! with 500, 503, 429 + `Retry-After`, or Meta's error JSON (`{"error":{"message","type","code",
//! "error_data":{"details"},"fbtrace_id"}}`) — globally for the next requests or per recipient —
//! to be down altogether ([`RecordingWhatsApp::set_down`]; connection refused is a server not
//! started yet, [`RecordingWhatsApp::start_on`]), or to accept a message and then never answer
//! ([`ScriptedFailure::AcceptThenHang`]: the client times out although Meta has the message).
//!
//! Like Meta, it can report each accepted message's `sent` status to a webhook
//! ([`RecordingWhatsApp::report_statuses_to`]): a delivery signed with `X-Hub-Signature-256`,
//! carrying the request's `biz_opaque_callback_data` in `statuses[]`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One request the server received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// Request path (`/v21.0/<phone_number_id>/messages`).
    pub path: String,
    /// API version segment.
    pub version: String,
    /// Phone number id segment.
    pub phone_number_id: String,
    /// Headers, names lowercased.
    pub headers: BTreeMap<String, String>,
    /// JSON body (`Value::Null` when it was not JSON).
    pub body: Value,
    /// Status the server answered with.
    pub answered: u16,
    /// The wamid returned (accepted requests).
    pub wamid: Option<String>,
    /// Accepted, but the answer never reached the client ([`ScriptedFailure::AcceptThenHang`]).
    pub answer_lost: bool,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl RecordedRequest {
    /// The bearer token sent, if any.
    pub fn bearer(&self) -> Option<&str> {
        self.headers.get("authorization").and_then(|v| v.strip_prefix("Bearer "))
    }

    /// The body's `to`.
    pub fn to(&self) -> Option<&str> {
        self.body.get("to").or_else(|| self.body.pointer("/recipient/id")).and_then(Value::as_str)
    }

    /// The message text: `text.body`, or the interactive message's `body.text`.
    pub fn text(&self) -> Option<&str> {
        self.body.pointer("/text/body").or_else(|| self.body.pointer("/interactive/body/text")).or_else(|| self.body.pointer("/message/text")).and_then(Value::as_str)
    }

    /// The reply button ids of an interactive message (empty for plain text).
    pub fn button_ids(&self) -> Vec<&str> {
        self.body.pointer("/interactive/action/buttons").and_then(Value::as_array).map(|b| b.iter().filter_map(|x| x.pointer("/reply/id").and_then(Value::as_str)).collect()).unwrap_or_default()
    }

    /// The idempotency key the dispatcher sent (`X-Souk-Request-Id`: the request's event id).
    pub fn request_id(&self) -> Option<&str> {
        self.headers.get("x-souk-request-id").map(String::as_str)
    }

    /// The body's `biz_opaque_callback_data` (Meta echoes it in the message's status webhooks).
    pub fn callback_data(&self) -> Option<&str> {
        self.body.get("biz_opaque_callback_data").and_then(Value::as_str)
    }
}

/// A scripted failure answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptedFailure {
    /// HTTP 500 with an empty body.
    ServerError,
    /// HTTP 503 with Meta's code 2 ("service temporarily unavailable").
    Unavailable,
    /// Accepts the message (recorded with a wamid, its `sent` status reported when
    /// `report_status` and a webhook is set) and then never answers: the client times out although
    /// Meta has the message.
    AcceptThenHang {
        /// Whether the `sent` status webhook is delivered (false: it is lost too).
        report_status: bool,
    },
    /// HTTP 429 with `Retry-After: <secs>`.
    TooManyRequests {
        /// Retry-After seconds.
        retry_after_secs: u64,
    },
    /// Meta's error JSON with this HTTP status and code.
    Meta {
        /// HTTP status.
        http_status: u16,
        /// Meta error code.
        code: i64,
        /// Error title (goes into `message` as `(#code) title`).
        title: String,
        /// `error_data.details`.
        details: String,
    },
}

impl ScriptedFailure {
    /// 131047: more than 24 hours since the customer's last message.
    pub fn outside_window() -> ScriptedFailure {
        ScriptedFailure::Meta {
            http_status: 400,
            code: 131047,
            title: "Re-engagement message".into(),
            details: "Message failed to send because more than 24 hours have passed since the customer last replied to this number.".into(),
        }
    }

    /// 130429: Cloud API throughput reached.
    pub fn rate_limit() -> ScriptedFailure {
        ScriptedFailure::Meta { http_status: 400, code: 130429, title: "Rate limit hit".into(), details: "Cloud API message throughput has been reached.".into() }
    }

    /// 131056: too many messages to the same recipient.
    pub fn pair_rate_limit() -> ScriptedFailure {
        ScriptedFailure::Meta {
            http_status: 400,
            code: 131056,
            title: "(Business Account, Consumer Account) pair rate limit hit".into(),
            details: "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.".into(),
        }
    }

    fn respond(&self) -> (u16, Response) {
        match self {
            ScriptedFailure::ServerError => (500, StatusCode::INTERNAL_SERVER_ERROR.into_response()),
            ScriptedFailure::Unavailable | ScriptedFailure::AcceptThenHang { .. } => (
                503,
                (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": {"message": "(#2) Service temporarily unavailable", "type": "OAuthException", "code": 2, "fbtrace_id": "Arecording"}})))
                    .into_response(),
            ),
            ScriptedFailure::TooManyRequests { retry_after_secs } => (
                429,
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", retry_after_secs.to_string())],
                    Json(json!({"error": {"message": "(#4) Application request limit reached", "type": "OAuthException", "code": 4, "fbtrace_id": "Arecording"}})),
                )
                    .into_response(),
            ),
            ScriptedFailure::Meta { http_status, code, title, details } => {
                let status = StatusCode::from_u16(*http_status).unwrap_or(StatusCode::BAD_REQUEST);
                let body = json!({"error": {"message": format!("(#{code}) {title}"), "type": "OAuthException", "code": code, "error_data": {"messaging_product": "whatsapp", "details": details}, "fbtrace_id": "Arecording"}});
                (*http_status, (status, Json(body)).into_response())
            }
        }
    }
}

/// Where accepted messages' statuses are reported, as Meta's webhook would.
#[derive(Clone)]
struct StatusWebhook {
    url: String,
    app_secret: String,
}

#[derive(Default)]
struct Recorder {
    requests: Vec<RecordedRequest>,
    next: VecDeque<ScriptedFailure>,
    by_recipient: HashMap<String, VecDeque<ScriptedFailure>>,
    accepted: u64,
    down: bool,
    webhook: Option<StatusWebhook>,
    reported: u64,
    /// Where accepted messages are handed over (the partner simulator's inbox).
    handover: Option<StatusWebhook>,
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<Recorder>>,
    /// Turns true when the server is dropped, releasing hanging handlers.
    closed: watch::Receiver<bool>,
    client: reqwest::Client,
}

/// The running server; stops when dropped.
pub struct RecordingWhatsApp {
    addr: SocketAddr,
    state: Arc<Mutex<Recorder>>,
    task: JoinHandle<()>,
    close: watch::Sender<bool>,
}

impl RecordingWhatsApp {
    /// Starts the server on `127.0.0.1:0`.
    pub async fn start() -> anyhow::Result<RecordingWhatsApp> {
        Self::start_on("127.0.0.1:0".parse()?).await
    }

    /// Starts the server on `addr` — e.g. the address a client has been refused at, so the Cloud
    /// API "comes back" where it was.
    pub async fn start_on(addr: SocketAddr) -> anyhow::Result<RecordingWhatsApp> {
        let state = Arc::new(Mutex::new(Recorder::default()));
        let (close, closed) = watch::channel(false);
        let shared = Shared { state: state.clone(), closed, client: reqwest::Client::new() };
        let app = Router::new().route("/{version}/{phone_number_id}/messages", post(handle)).with_state(shared);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "recording WhatsApp server stopped");
            }
        });
        Ok(RecordingWhatsApp { addr, state, task, close })
    }

    /// Base URL to put in `DispatcherSettings::base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next requests (whoever they are for) get these answers, in order.
    pub fn fail_next(&self, failures: impl IntoIterator<Item = ScriptedFailure>) {
        if let Ok(mut s) = self.state.lock() {
            s.next.extend(failures);
        }
    }

    /// The next requests to recipient `to` get these answers, in order (deterministic whatever
    /// order the sender uses across recipients).
    pub fn fail_to(&self, to: &str, failures: impl IntoIterator<Item = ScriptedFailure>) {
        if let Ok(mut s) = self.state.lock() {
            s.by_recipient.entry(to.to_string()).or_default().extend(failures);
        }
    }

    /// While `down`, every request is answered 503 (Meta code 2), before any scripted answer.
    pub fn set_down(&self, down: bool) {
        if let Ok(mut s) = self.state.lock() {
            s.down = down;
        }
    }

    /// From now on, each accepted message's `sent` status is POSTed to `url` (the gateway's
    /// `/webhooks/whatsapp`) as Meta's webhook delivery, signed with `app_secret`.
    pub fn report_statuses_to(&self, url: &str, app_secret: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.webhook = Some(StatusWebhook { url: url.to_string(), app_secret: app_secret.to_string() });
        }
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.lock().map(|s| s.requests.clone()).unwrap_or_default()
    }

    /// The requests that were accepted (answered 200, or accepted with the answer lost).
    pub fn delivered(&self) -> Vec<RecordedRequest> {
        self.requests().into_iter().filter(|r| r.answered == 200).collect()
    }

    /// Hands every accepted message over to `url` (the partner simulator's
    /// `POST /v1/simulator/inbox`): `{phone_number_id, wamid, message}` signed with `app_secret`,
    /// as the recipient's phone would receive it. Simulated partners answer from there.
    pub fn hand_over_to(&self, url: &str, app_secret: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.handover = Some(StatusWebhook { url: url.to_string(), app_secret: app_secret.to_string() });
        }
    }

    /// Reports now, as Meta would, that message `wamid` (accepted earlier, e.g. before the sender
    /// crashed) was sent to `to`, echoing `callback_data`; waits until the webhook took it.
    pub async fn report_status(&self, phone_number_id: &str, wamid: &str, to: &str, callback_data: Option<&str>) -> anyhow::Result<()> {
        let webhook = self.state.lock().ok().and_then(|s| s.webhook.clone()).ok_or_else(|| anyhow::anyhow!("no status webhook set (report_statuses_to)"))?;
        let before = self.statuses_reported();
        let shared = Shared { state: self.state.clone(), closed: self.close.subscribe(), client: reqwest::Client::new() };
        report_status(shared, webhook, status_delivery(phone_number_id, wamid, to, callback_data)).await;
        anyhow::ensure!(self.statuses_reported() > before, "the status webhook did not accept the delivery");
        Ok(())
    }

    /// How many status webhooks were delivered (answered 2xx by the webhook).
    pub fn statuses_reported(&self) -> u64 {
        self.state.lock().map(|s| s.reported).unwrap_or_default()
    }
}

impl Drop for RecordingWhatsApp {
    fn drop(&mut self) {
        let _ = self.close.send(true);
        self.task.abort();
    }
}

async fn handle(State(shared): State<Shared>, Path((version, phone_number_id)): Path<(String, String)>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let headers: BTreeMap<String, String> = headers.iter().map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect();
    // Instagram's `/me/messages` names the recipient as `recipient.id`.
    let instagram = phone_number_id == "me";
    let to = body.get("to").or_else(|| body.pointer("/recipient/id")).and_then(Value::as_str).unwrap_or_default().to_string();
    let (response, report, hang) = {
        let Ok(mut s) = shared.state.lock() else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let failure = if s.down {
            Some(ScriptedFailure::Unavailable)
        } else {
            match s.by_recipient.get_mut(&to).and_then(VecDeque::pop_front) {
                Some(f) => Some(f),
                None => s.next.pop_front(),
            }
        };
        let mut record = RecordedRequest {
            path: format!("/{version}/{phone_number_id}/messages"),
            version,
            phone_number_id: phone_number_id.clone(),
            headers,
            body,
            answered: 200,
            wamid: None,
            answer_lost: false,
            at: std::time::Instant::now(),
        };
        let (accept, report_status, hang) = match &failure {
            None => (true, true, false),
            Some(ScriptedFailure::AcceptThenHang { report_status }) => (true, *report_status, true),
            Some(_) => (false, false, false),
        };
        let mut report = None;
        let response = if accept {
            s.accepted += 1;
            let wamid = if instagram { format!("m_recording.{}", s.accepted) } else { format!("wamid.recording.{}", s.accepted) };
            record.wamid = Some(wamid.clone());
            record.answer_lost = hang;
            if report_status && !instagram {
                report = s.webhook.clone().map(|w| (w, status_delivery(&phone_number_id, &wamid, &to, record.callback_data())));
            }
            if let Some(h) = s.handover.clone() {
                let handover = json!({ "phone_number_id": phone_number_id, "wamid": wamid, "message": record.body });
                tokio::spawn(post_signed(shared.clone(), h, handover));
            }
            if instagram {
                Json(json!({"recipient_id": to, "message_id": wamid})).into_response()
            } else {
                Json(json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}], "messages": [{"id": wamid}]})).into_response()
            }
        } else {
            let (status, response) = failure.as_ref().map(ScriptedFailure::respond).unwrap_or_else(|| (500, StatusCode::INTERNAL_SERVER_ERROR.into_response()));
            record.answered = status;
            response
        };
        s.requests.push(record);
        (response, report, hang)
    };
    if let Some((webhook, delivery)) = report {
        tokio::spawn(report_status(shared.clone(), webhook, delivery));
    }
    if hang {
        // Meta has the message; its answer never arrives (the client's timeout fires first).
        let mut closed = shared.closed.clone();
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
            _ = closed.wait_for(|c| *c) => {}
        }
        return StatusCode::GATEWAY_TIMEOUT.into_response();
    }
    response
}

/// Meta's webhook delivery of one `sent` status, with the request's callback data.
fn status_delivery(phone_number_id: &str, wamid: &str, to: &str, callback_data: Option<&str>) -> Value {
    let mut status = json!({
        "id": wamid,
        "status": "sent",
        "timestamp": chrono::Utc::now().timestamp().to_string(),
        "recipient_id": to,
        "conversation": {"id": format!("conv-{to}"), "origin": {"type": "service"}},
        "pricing": {"billable": false, "pricing_model": "PMP", "category": "service"},
    });
    if let Some(data) = callback_data {
        status["biz_opaque_callback_data"] = json!(data);
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "0", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": phone_number_id, "phone_number_id": phone_number_id},
            "statuses": [status],
        }}]}],
    })
}

/// POSTs a status delivery like Meta: signed, retried until the webhook answers 2xx (Meta keeps
/// retrying for days; here for two minutes, so a gateway restarting after a crash still gets it).
async fn report_status(shared: Shared, webhook: StatusWebhook, delivery: Value) {
    if post_signed(shared.clone(), webhook, delivery).await {
        if let Ok(mut s) = shared.state.lock() {
            s.reported += 1;
        }
    }
}

/// Posts `delivery` signed with the webhook's app secret until it is taken (2xx) or two minutes
/// pass; whether it was taken.
async fn post_signed(shared: Shared, webhook: StatusWebhook, delivery: Value) -> bool {
    use hmac::{Hmac, Mac};
    let body = delivery.to_string().into_bytes();
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(webhook.app_secret.as_bytes()) else {
        return false;
    };
    mac.update(&body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let (give_up, mut delay) = (std::time::Instant::now() + Duration::from_secs(120), Duration::from_millis(250));
    while std::time::Instant::now() < give_up {
        let sent = shared.client.post(&webhook.url).header("content-type", "application/json").header("x-hub-signature-256", &signature).body(body.clone()).send().await;
        match sent {
            Ok(r) if r.status().is_success() => return true,
            Ok(r) => tracing::warn!(url = %webhook.url, status = r.status().as_u16(), "webhook refused; retrying"),
            Err(e) => tracing::warn!(url = %webhook.url, error = %e, "webhook unreachable; retrying"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
    false
}
