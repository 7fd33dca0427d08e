//! A local stand-in for the WhatsApp Cloud API send-message endpoint, for tests and `souk demo`:
//! `POST /{version}/{phone_number_id}/messages` answers like Meta
//! (`{"messaging_product":"whatsapp","contacts":[{"input","wa_id"}],"messages":[{"id":"wamid.…"}]}`),
//! records every request (path, headers, body, the answer's status) and can be scripted to fail
//! with 500, 429 + `Retry-After`, or Meta's error JSON (`{"error":{"message","type","code",
//! "error_data":{"details"},"fbtrace_id"}}`) — globally for the next requests or per recipient.

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
}

impl RecordedRequest {
    /// The bearer token sent, if any.
    pub fn bearer(&self) -> Option<&str> {
        self.headers.get("authorization").and_then(|v| v.strip_prefix("Bearer "))
    }

    /// The body's `to`.
    pub fn to(&self) -> Option<&str> {
        self.body.get("to").and_then(Value::as_str)
    }

    /// The message text: `text.body`, or the interactive message's `body.text`.
    pub fn text(&self) -> Option<&str> {
        self.body.pointer("/text/body").or_else(|| self.body.pointer("/interactive/body/text")).and_then(Value::as_str)
    }

    /// The reply button ids of an interactive message (empty for plain text).
    pub fn button_ids(&self) -> Vec<&str> {
        self.body.pointer("/interactive/action/buttons").and_then(Value::as_array).map(|b| b.iter().filter_map(|x| x.pointer("/reply/id").and_then(Value::as_str)).collect()).unwrap_or_default()
    }

    /// The idempotency key the dispatcher sent (`X-Souk-Request-Id`: the request's event id).
    pub fn request_id(&self) -> Option<&str> {
        self.headers.get("x-souk-request-id").map(String::as_str)
    }
}

/// A scripted failure answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptedFailure {
    /// HTTP 500 with an empty body.
    ServerError,
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
        ScriptedFailure::Meta { http_status: 400, code: 131047, title: "Re-engagement message".into(), details: "Message failed to send because more than 24 hours have passed since the customer last replied to this number.".into() }
    }

    /// 130429: Cloud API throughput reached.
    pub fn rate_limit() -> ScriptedFailure {
        ScriptedFailure::Meta { http_status: 400, code: 130429, title: "Rate limit hit".into(), details: "Cloud API message throughput has been reached.".into() }
    }

    /// 131056: too many messages to the same recipient.
    pub fn pair_rate_limit() -> ScriptedFailure {
        ScriptedFailure::Meta { http_status: 400, code: 131056, title: "(Business Account, Consumer Account) pair rate limit hit".into(), details: "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.".into() }
    }

    fn respond(&self) -> (u16, Response) {
        match self {
            ScriptedFailure::ServerError => (500, StatusCode::INTERNAL_SERVER_ERROR.into_response()),
            ScriptedFailure::TooManyRequests { retry_after_secs } => {
                (429, (StatusCode::TOO_MANY_REQUESTS, [("retry-after", retry_after_secs.to_string())], Json(json!({"error": {"message": "(#4) Application request limit reached", "type": "OAuthException", "code": 4, "fbtrace_id": "Arecording"}}))).into_response())
            }
            ScriptedFailure::Meta { http_status, code, title, details } => {
                let status = StatusCode::from_u16(*http_status).unwrap_or(StatusCode::BAD_REQUEST);
                let body = json!({"error": {"message": format!("(#{code}) {title}"), "type": "OAuthException", "code": code, "error_data": {"messaging_product": "whatsapp", "details": details}, "fbtrace_id": "Arecording"}});
                (*http_status, (status, Json(body)).into_response())
            }
        }
    }
}

#[derive(Default)]
struct Recorder {
    requests: Vec<RecordedRequest>,
    next: VecDeque<ScriptedFailure>,
    by_recipient: HashMap<String, VecDeque<ScriptedFailure>>,
    accepted: u64,
}

/// The running server; stops when dropped.
pub struct RecordingWhatsApp {
    addr: SocketAddr,
    state: Arc<Mutex<Recorder>>,
    task: JoinHandle<()>,
}

impl RecordingWhatsApp {
    /// Starts the server on `127.0.0.1:0`.
    pub async fn start() -> anyhow::Result<RecordingWhatsApp> {
        let state = Arc::new(Mutex::new(Recorder::default()));
        let app = Router::new().route("/{version}/{phone_number_id}/messages", post(handle)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "recording WhatsApp server stopped");
            }
        });
        Ok(RecordingWhatsApp { addr, state, task })
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

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.lock().map(|s| s.requests.clone()).unwrap_or_default()
    }

    /// The requests that were accepted (answered 200).
    pub fn delivered(&self) -> Vec<RecordedRequest> {
        self.requests().into_iter().filter(|r| r.answered == 200).collect()
    }
}

impl Drop for RecordingWhatsApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(state): State<Arc<Mutex<Recorder>>>, Path((version, phone_number_id)): Path<(String, String)>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let headers: BTreeMap<String, String> = headers.iter().map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect();
    let to = body.get("to").and_then(Value::as_str).unwrap_or_default().to_string();
    let Ok(mut s) = state.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let failure = match s.by_recipient.get_mut(&to).and_then(VecDeque::pop_front) {
        Some(f) => Some(f),
        None => s.next.pop_front(),
    };
    let mut record = RecordedRequest { path: format!("/{version}/{phone_number_id}/messages"), version, phone_number_id, headers, body, answered: 200, wamid: None };
    let response = match failure {
        Some(f) => {
            let (status, response) = f.respond();
            record.answered = status;
            response
        }
        None => {
            s.accepted += 1;
            let wamid = format!("wamid.recording.{}", s.accepted);
            record.wamid = Some(wamid.clone());
            Json(json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}], "messages": [{"id": wamid}]})).into_response()
        }
    };
    s.requests.push(record);
    response
}
