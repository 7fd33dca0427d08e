//! Rate limits on owner and staff commands (rules AU2; source 002 §a.9: 60 per minute and 1,000
//! per hour by default, 429 with `retry_after`). Counted per API key — the owner's and each staff
//! member's apart — over sliding windows, so a burst cannot straddle a window edge to get twice
//! through. Reads (`GET`) and webhooks are not limited: reads serve the console's live views, and
//! a refused webhook would be a message lost to Meta's retry schedule.
//!
//! Counters live in the process: N gateway instances behind a balancer allow up to N times the
//! limit (documented in README); the limit protects the pipeline from one runaway client, not a
//! billing boundary.

use crate::tenants::Tenants;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A tenant's limits (`[tenants.rate_limits]`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Commands per key in any 60 seconds (default 60).
    #[serde(default = "RateLimits::default_per_minute")]
    pub commands_per_minute: u32,
    /// Commands per key in any hour (default 1,000).
    #[serde(default = "RateLimits::default_per_hour")]
    pub commands_per_hour: u32,
}

impl RateLimits {
    fn default_per_minute() -> u32 {
        60
    }
    fn default_per_hour() -> u32 {
        1000
    }
}

impl Default for RateLimits {
    fn default() -> RateLimits {
        RateLimits { commands_per_minute: RateLimits::default_per_minute(), commands_per_hour: RateLimits::default_per_hour() }
    }
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// The sliding windows of every key seen in the last hour.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    /// Counts one command of `key` at `now` under `limits`: `Ok` if it may pass, else how long
    /// until it would (whole seconds, at least 1). A refused command is not counted.
    pub fn admit(&self, key: &str, limits: RateLimits, now: Instant) -> Result<(), u64> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > 10_000 {
            windows.retain(|_, w| w.back().is_some_and(|last| now.duration_since(*last) < HOUR));
        }
        let window = windows.entry(key.to_string()).or_default();
        while window.front().is_some_and(|t| now.duration_since(*t) >= HOUR) {
            window.pop_front();
        }
        let wait = |limit: u32, span: Duration| -> Option<Duration> {
            let recent: Vec<&Instant> = window.iter().rev().take_while(|t| now.duration_since(**t) < span).collect();
            // The oldest request that keeps the window full must leave it first.
            (recent.len() >= limit as usize).then(|| span - now.duration_since(*recent[limit as usize - 1]))
        };
        let blocked = [wait(limits.commands_per_minute.max(1), MINUTE), wait(limits.commands_per_hour.max(1), HOUR)].into_iter().flatten().max();
        match blocked {
            Some(d) => Err(d.as_secs() + u64::from(d.subsec_nanos() > 0)).map_err(|s| s.max(1)),
            None => {
                window.push_back(now);
                Ok(())
            }
        }
    }
}

/// The 429 answer: `{"error": "RATE_LIMITED", "reason", "retry_after": seconds}` and a
/// `Retry-After` header.
pub fn too_many(retry_after: u64, limits: RateLimits) -> Response {
    let reason = format!("Too many requests: at most {} commands per minute and {} per hour per API key", limits.commands_per_minute, limits.commands_per_hour);
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(json!({ "error": "RATE_LIMITED", "reason": reason, "retry_after": retry_after }))).into_response();
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// Whether a route's requests are counted: commands under `/v1/` with an API key.
pub fn limited(method: &Method, path: &str) -> bool {
    *method != Method::GET && *method != Method::HEAD && crate::permissions::required(method, path).is_some()
}

/// The route layer: 429 before the handler when the presented key is over its tenant's limits.
/// Unknown keys pass through to the handler's 401.
pub async fn limit(State((tenants, limiter)): State<(Arc<Tenants>, Arc<RateLimiter>)>, request: Request, next: Next) -> Response {
    let path = request.extensions().get::<axum::extract::MatchedPath>().map(|p| p.as_str().to_string());
    if let Some(path) = path.filter(|p| limited(request.method(), p)) {
        let key = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().split_once(' ')).map(|(_, k)| k.trim());
        if let Some((tenant, staff, _)) = key.and_then(|k| tenants.principal(k)) {
            let limits = tenant.rate_limits.unwrap_or_default();
            if let Err(retry_after) = limiter.admit(&format!("{}|{staff}", tenant.id), limits, Instant::now()) {
                tracing::warn!(tenant = %tenant.id, staff, path, retry_after, "refused: over the command rate limit");
                return too_many(retry_after, limits);
            }
        }
    }
    next.run(request).await
}

/// What the 429 of a limited operation says (the OpenAPI document's description).
pub const DOCUMENTED: &str = "Too many requests: the key is over its command rate limit; retry after `retry_after` seconds (also the Retry-After header)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sixty_first_command_in_a_minute_waits_for_the_first_to_leave() {
        let limiter = RateLimiter::default();
        let limits = RateLimits::default();
        let t0 = Instant::now();
        for i in 0..60 {
            assert!(limiter.admit("a|owner", limits, t0 + Duration::from_millis(i * 100)).is_ok(), "command {i}");
        }
        // The 61st at 6 s: the first leaves the window at 60 s ⇒ retry after 54 s.
        assert_eq!(limiter.admit("a|owner", limits, t0 + Duration::from_secs(6)), Err(54));
        assert!(limiter.admit("a|admin-1", limits, t0 + Duration::from_secs(6)).is_ok(), "each key has its own window");
        assert!(limiter.admit("a|owner", limits, t0 + Duration::from_secs(60)).is_ok(), "the first left");
        assert_eq!(limiter.admit("a|owner", limits, t0 + Duration::from_secs(60)), Err(1), "not a whole second yet for the second (at 0.1 s)");
    }

    #[test]
    fn the_hour_limit_holds_across_minutes() {
        let limiter = RateLimiter::default();
        let limits = RateLimits { commands_per_minute: 60, commands_per_hour: 100 };
        let t0 = Instant::now();
        for i in 0..100 {
            assert!(limiter.admit("k", limits, t0 + Duration::from_secs(i * 30)).is_ok());
        }
        let at = t0 + Duration::from_secs(100 * 30);
        assert_eq!(limiter.admit("k", limits, at), Err(600), "the first (at 0 s) leaves the hour at 3600 s");
    }

    #[test]
    fn reads_and_webhooks_are_never_limited() {
        assert!(limited(&Method::POST, "/v1/inventory/products"));
        assert!(limited(&Method::DELETE, "/v1/rules/{rule_id}"));
        assert!(!limited(&Method::GET, "/v1/inventory/products"));
        assert!(!limited(&Method::POST, "/webhooks/instagram"));
    }
}
