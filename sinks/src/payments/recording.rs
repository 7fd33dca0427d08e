//! A local stand-in for the Stripe API calls the payments dispatcher makes, for tests and
//! `souk demo`: `POST /v1/payment_intents` (create + confirm, manual or automatic capture),
//! `/v1/payment_intents/{id}/capture`, `/v1/payment_intents/{id}/cancel`, `/v1/refunds` and
//! `/v1/transfers`, answering Stripe-shaped JSON objects and errors (`{"error":{"type","code",
//! "decline_code","message","param"}}`), with Stripe's ledger rules (`ledger.rs`). Each secret key
//! (`Authorization: Bearer sk_...`, else 401) is its own account: its objects, balance and
//! idempotency keys.
//!
//! Idempotency as Stripe's v1 API: the first request with an `Idempotency-Key` executes once
//! and its answer — success or a refusal such as a card decline — is stored; a later request with
//! the same key and the same parameters gets the stored status and body back with
//! `Idempotent-Replayed: true`; the same key with other parameters is a 400 `idempotency_error`.
//! Validation errors and scripted outages are not stored. Payment method `pm_card_chargeDeclined`
//! declines (402 `card_declined` / `generic_decline`).
//!
//! For tests it records every request ([`RecordingStripe::requests`]), exposes the objects and
//! balances, scripts outages ([`RecordingStripe::fail_next`]: an answer without applying
//! anything) and can apply a call and store its answer but keep the HTTP response back until
//! released ([`RecordingStripe::hold_after_apply`]), so a test can kill the caller while the
//! answer is in flight.

mod ledger;

pub use ledger::{PaymentIntent, Refund, Transfer};

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json, Router};
use ledger::{Ledger, Params, Reply};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One request the stand-in received, as it answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeRequest {
    /// HTTP method.
    pub method: String,
    /// Request path (`/v1/payment_intents/pi_rec00000001/capture`).
    pub path: String,
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// The bearer secret key (the account).
    pub secret_key: Option<String>,
    /// Form parameters in the order sent.
    pub params: Vec<(String, String)>,
    /// The status answered.
    pub status: u16,
    /// Answered from the idempotency store (nothing executed).
    pub replayed: bool,
    /// Its answer was held back by [`RecordingStripe::hold_after_apply`].
    pub held: bool,
}

impl StripeRequest {
    /// Form parameter `name` (`amount`, `metadata[command_id]`, ...).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// An answer stored under an idempotency key.
struct Stored {
    path: String,
    /// Sorted: Stripe compares the parameters, not their order.
    params: Vec<(String, String)>,
    status: u16,
    body: Value,
}

/// A scripted outage: the next `left` requests under `prefix` answer `status`.
struct Outage {
    prefix: String,
    left: usize,
    status: u16,
}

#[derive(Default)]
struct Stand {
    requests: Vec<StripeRequest>,
    ledger: Ledger,
    answers: HashMap<(String, String), Stored>,
    outages: Vec<Outage>,
    hold: Option<String>,
    held: usize,
    seq: u64,
}

/// How the stand-in answers one request.
struct Answered {
    reply: Reply,
    replayed: bool,
    hold: bool,
}

impl Stand {
    fn answer(&mut self, req: &StripeRequest, params: Result<Vec<(String, String)>, String>) -> Answered {
        let plain = |reply| Answered { reply, replayed: false, hold: false };
        let Some(account) = req.secret_key.clone().filter(|k| k.starts_with("sk_")) else {
            let shown = req.secret_key.as_deref().map_or("none".to_string(), |k| format!("{}***", k.chars().take(4).collect::<String>()));
            return plain(Reply::error(401, "invalid_request_error", None, format!("Invalid API Key provided: {shown}"), None));
        };
        if let Some(o) = self.outages.iter_mut().find(|o| o.left > 0 && req.path.starts_with(&o.prefix)) {
            o.left -= 1;
            return plain(scripted(o.status));
        }
        let params = match params {
            Ok(p) => p,
            Err(e) => return plain(Reply::error(400, "invalid_request_error", None, format!("Invalid request body: {e}"), None)),
        };
        if req.method != "POST" {
            return plain(unrecognized(&req.method, &req.path));
        }
        let mut sorted = params.clone();
        sorted.sort();
        if let Some(key) = &req.idempotency_key {
            if let Some(stored) = self.answers.get(&(account.clone(), key.clone())) {
                if stored.path == req.path && stored.params == sorted {
                    return Answered { reply: Reply { status: stored.status, body: stored.body.clone(), store: false }, replayed: true, hold: false };
                }
                let message = format!(
                    "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
                );
                return plain(Reply::error(400, "idempotency_error", None, message, None));
            }
        }
        let reply = self.execute(&account, &req.path, &Params(&params));
        if let (true, Some(key)) = (reply.store, &req.idempotency_key) {
            self.answers.insert((account, key.clone()), Stored { path: req.path.clone(), params: sorted, status: reply.status, body: reply.body.clone() });
        }
        let hold = reply.store && self.hold.as_ref().is_some_and(|prefix| req.path.starts_with(prefix));
        Answered { reply, replayed: false, hold }
    }

    fn execute(&mut self, account: &str, path: &str, p: &Params) -> Reply {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let done = match segments.as_slice() {
            ["v1", "payment_intents"] => self.ledger.create_intent(account, p),
            ["v1", "payment_intents", id, "capture"] => self.ledger.capture(account, id, p),
            ["v1", "payment_intents", id, "cancel"] => self.ledger.cancel(account, id, p),
            ["v1", "refunds"] => self.ledger.refund(account, p),
            ["v1", "transfers"] => self.ledger.transfer(account, p),
            _ => Err(unrecognized("POST", path)),
        };
        done.unwrap_or_else(|refused| refused)
    }
}

fn unrecognized(method: &str, path: &str) -> Reply {
    Reply::error(404, "invalid_request_error", None, format!("Unrecognized request URL ({method}: {path})."), None)
}

/// Stripe's answer for a scripted outage status.
fn scripted(status: u16) -> Reply {
    match status {
        429 => Reply::error(429, "invalid_request_error", Some("rate_limit"), "Too many requests hit the API too quickly.", None),
        409 => Reply::error(409, "idempotency_error", Some("idempotency_key_in_use"), "There is currently another in-progress request using this Idempotent Key.", None),
        s if s >= 500 => Reply::error(s, "api_error", None, "Something went wrong on Stripe's end.", None),
        s => Reply::error(s, "invalid_request_error", None, format!("Scripted failure (HTTP {s})."), None),
    }
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<Stand>>,
    /// Bumped by [`RecordingStripe::release_held`].
    release: watch::Receiver<u64>,
    /// Turns true when the server is dropped, releasing held answers.
    closed: watch::Receiver<bool>,
}

/// The running stand-in; stops when dropped.
pub struct RecordingStripe {
    addr: SocketAddr,
    state: Arc<Mutex<Stand>>,
    task: JoinHandle<()>,
    close: watch::Sender<bool>,
    release: watch::Sender<u64>,
}

impl RecordingStripe {
    /// Starts the stand-in on `127.0.0.1:0`.
    pub async fn start() -> anyhow::Result<RecordingStripe> {
        Self::start_on("127.0.0.1:0".parse()?).await
    }

    /// Starts the stand-in on `addr` (e.g. where a client was refused, so the API "comes back").
    pub async fn start_on(addr: SocketAddr) -> anyhow::Result<RecordingStripe> {
        let state = Arc::new(Mutex::new(Stand::default()));
        let (close, closed) = watch::channel(false);
        let (release, released) = watch::channel(0u64);
        let shared = Shared { state: state.clone(), release: released, closed };
        let app = Router::new().fallback(handle).with_state(shared);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "recording Stripe server stopped");
            }
        });
        Ok(RecordingStripe { addr, state, task, close, release })
    }

    /// Base URL to put in `PaymentsSettings::base_url` (`SOUK_PAYMENTS_BASE_URL`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, Stand> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<StripeRequest> {
        self.lock().requests.clone()
    }

    /// Every PaymentIntent created (all accounts), in creation order.
    pub fn payment_intents(&self) -> Vec<PaymentIntent> {
        self.lock().ledger.intents.clone()
    }

    /// Every refund (all accounts), in creation order.
    pub fn refunds(&self) -> Vec<Refund> {
        self.lock().ledger.refunds.clone()
    }

    /// Every transfer (all accounts), in creation order.
    pub fn transfers(&self) -> Vec<Transfer> {
        self.lock().ledger.transfers.clone()
    }

    /// The platform balance of account `secret_key` in `currency` (lowercase), in **minor
    /// units**: captured − refunded − transferred.
    pub fn balance(&self, secret_key: &str, currency: &str) -> i64 {
        self.lock().ledger.balance(secret_key, currency)
    }

    /// The next `n` requests whose path starts with `path_prefix` are answered `http_status`
    /// (Stripe's error body for it: 500 `api_error`, 429 `rate_limit`, 409
    /// `idempotency_key_in_use`) without applying or storing anything — a scripted outage.
    pub fn fail_next(&self, path_prefix: &str, n: usize, http_status: u16) {
        self.lock().outages.push(Outage { prefix: path_prefix.to_string(), left: n, status: http_status });
    }

    /// From now on until [`release_held`](Self::release_held), every request executed under
    /// `path_prefix` is applied and its answer stored under its idempotency key, but the HTTP
    /// response waits (replays are not held): the caller's answer is in flight.
    pub fn hold_after_apply(&self, path_prefix: &str) {
        self.lock().hold = Some(path_prefix.to_string());
    }

    /// Sends every held answer and stops holding.
    pub fn release_held(&self) {
        let mut s = self.lock();
        s.hold = None;
        self.release.send_modify(|generation| *generation += 1);
    }

    /// How many answers are held right now.
    pub fn held(&self) -> usize {
        self.lock().held
    }

    /// Waits until `n` answers are held; false if that takes longer than `within`.
    pub async fn wait_held(&self, n: usize, within: Duration) -> bool {
        let until = Instant::now() + within;
        while self.held() < n {
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

impl Drop for RecordingStripe {
    fn drop(&mut self) {
        let _ = self.close.send(true);
        self.task.abort();
    }
}

/// Decrements the held count when a held answer is sent or its client went away.
struct HeldGuard(Arc<Mutex<Stand>>);

impl Drop for HeldGuard {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.lock() {
            s.held = s.held.saturating_sub(1);
        }
    }
}

async fn handle(State(shared): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, form: Result<Form<Vec<(String, String)>>, FormRejection>) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut req = StripeRequest {
        method: method.to_string(),
        path: uri.path().to_string(),
        idempotency_key: header("idempotency-key"),
        secret_key: header("authorization").and_then(|v| v.strip_prefix("Bearer ").map(|k| k.trim().to_string())),
        params: Vec::new(),
        status: 0,
        replayed: false,
        held: false,
    };
    let params = form.map(|Form(p)| p).map_err(|e| e.body_text());
    req.params = params.clone().unwrap_or_default();
    let (answered, request_id, generation, guard) = {
        let Ok(mut s) = shared.state.lock() else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let answered = s.answer(&req, params);
        s.seq += 1;
        let request_id = format!("req_rec{:08}", s.seq);
        (req.status, req.replayed, req.held) = (answered.reply.status, answered.replayed, answered.hold);
        s.requests.push(req.clone());
        let guard = answered.hold.then(|| {
            s.held += 1;
            HeldGuard(shared.state.clone())
        });
        (answered, request_id, *shared.release.borrow(), guard)
    };
    if let Some(_guard) = guard {
        let (mut release, mut closed) = (shared.release.clone(), shared.closed.clone());
        tokio::select! {
            _ = release.wait_for(|g| *g != generation) => {}
            _ = closed.wait_for(|c| *c) => {}
        }
    }
    let status = StatusCode::from_u16(answered.reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Json(answered.reply.body)).into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("request-id", v);
    }
    if let Some(v) = req.idempotency_key.as_deref().and_then(|k| HeaderValue::from_str(k).ok()) {
        h.insert("idempotency-key", v);
    }
    if answered.replayed {
        h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

#[cfg(test)]
mod tests;
