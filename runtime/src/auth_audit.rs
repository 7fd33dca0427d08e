//! The authentication audit of the HTTP API (rules AU3): a layer over the whole app that notes
//! every API key presented — a key nobody has as a failure of the client address, a known key the
//! first time this process sees it from an address in an hour as a success of its holder — and
//! hands the attempt to an [`AuthAudit`] (the gateway publishes it to `security.inputs`, where the
//! `auth-anomalies` processor looks for brute force and shared keys). The key itself is never
//! recorded; requests without a key are not attempts.

use crate::tenants::Tenants;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One key presentation, as the layer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthAttempt {
    /// The tenant of a known key.
    pub tenant: Option<String>,
    /// `owner` or the staff member of a known key.
    pub principal: Option<String>,
    /// The client address.
    pub ip: String,
    /// The route template (or the raw path when no route matched).
    pub path: String,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// When (epoch ms).
    pub at_ms: i64,
}

/// Where attempts go.
pub trait AuthAudit: Send + Sync {
    /// Records one attempt; must not block the request (publish in the background).
    fn record(&self, attempt: AuthAttempt);
}

/// How long a (key, address) success is remembered before it is reported again.
const SUCCESS_EVERY: Duration = Duration::from_secs(3600);
/// Failures of one address reported per hour; more add nothing to the anomaly (it has fired).
const FAILURES_PER_HOUR: usize = 20;

/// The layer's state: the tenants, the sink of attempts, and what was reported recently.
pub struct Auditor {
    tenants: Arc<Tenants>,
    audit: Arc<dyn AuthAudit>,
    reported: Mutex<HashMap<String, (Instant, usize)>>,
}

impl Auditor {
    /// An auditor reporting to `audit`.
    pub fn new(tenants: Arc<Tenants>, audit: Arc<dyn AuthAudit>) -> Arc<Auditor> {
        Arc::new(Auditor { tenants, audit, reported: Mutex::new(HashMap::new()) })
    }

    /// Whether `key` (a success's `tenant|principal|ip` or a failure's `ip`) is to be reported now.
    fn due(&self, key: String, limit: usize, now: Instant) -> bool {
        let mut reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        if reported.len() > 50_000 {
            reported.retain(|_, (since, _)| now.duration_since(*since) < SUCCESS_EVERY);
        }
        let entry = reported.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= SUCCESS_EVERY {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= limit
    }
}

/// The layer (`axum::middleware::from_fn_with_state(auditor, audit)`).
pub async fn audit(State(auditor): State<Arc<Auditor>>, request: Request, next: Next) -> Response {
    let key = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().split_once(' ')).map(|(_, k)| k.trim().to_string()).filter(|k| !k.is_empty());
    if let Some(key) = key {
        let ip = request.extensions().get::<ConnectInfo<SocketAddr>>().map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string());
        let path = request.extensions().get::<MatchedPath>().map_or_else(|| request.uri().path().to_string(), |p| p.as_str().to_string());
        let user_agent = request.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|s| s.chars().take(256).collect());
        let now = Instant::now();
        let holder = auditor.tenants.principal(&key).map(|(t, p, _)| (t.id.clone(), p.to_string()));
        let due = match &holder {
            Some((tenant, principal)) => auditor.due(format!("{tenant}|{principal}|{ip}"), 1, now),
            None => auditor.due(ip.clone(), FAILURES_PER_HOUR, now),
        };
        if due {
            let (tenant, principal) = holder.map_or((None, None), |(t, p)| (Some(t), Some(p)));
            if tenant.is_none() {
                tracing::warn!(ip, path, "an API key nobody has was presented");
            }
            auditor.audit.record(AuthAttempt { tenant, principal, ip, path, user_agent, at_ms: epoch_ms() });
        }
    }
    next.run(request).await
}

fn epoch_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nowhere;
    impl AuthAudit for Nowhere {
        fn record(&self, _attempt: AuthAttempt) {}
    }

    #[test]
    fn successes_are_reported_once_an_hour_per_address_failures_up_to_twenty() {
        let a = Auditor::new(Arc::new(Tenants::default()), Arc::new(Nowhere));
        let t0 = Instant::now();
        assert!(a.due("t|owner|1.1.1.1".into(), 1, t0));
        assert!(!a.due("t|owner|1.1.1.1".into(), 1, t0 + Duration::from_secs(10)));
        assert!(a.due("t|owner|2.2.2.2".into(), 1, t0));
        assert!(a.due("t|owner|1.1.1.1".into(), 1, t0 + SUCCESS_EVERY));
        let failures = (0..25).filter(|_| a.due("9.9.9.9".into(), FAILURES_PER_HOUR, t0)).count();
        assert_eq!(failures, FAILURES_PER_HOUR);
    }
}
