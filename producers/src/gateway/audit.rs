//! The gateway's end of the authentication audit (rules AU3): each attempt the app's audit layer
//! notes becomes an `AuthAttempted` on `security.inputs` (output `security`), published in the
//! background so no request waits on it. A publish that fails is logged and dropped — the audit
//! is evidence for anomaly detection, not a command to be retried by a client.

use super::publisher::{EventPublisher, GatewayEvent, Publish};
use souk_runtime::auth_audit::{AuthAttempt, AuthAudit};
use souk_schemas::security::{attempt_key, AuthAttempted};
use souk_schemas::Envelope;
use std::sync::Arc;

/// Publishes attempts through the gateway's publisher.
pub struct PublishedAudit {
    publisher: Arc<dyn EventPublisher>,
}

impl PublishedAudit {
    /// An audit publishing with `publisher` (whose outputs must include `security`).
    pub fn new(publisher: Arc<dyn EventPublisher>) -> PublishedAudit {
        PublishedAudit { publisher }
    }
}

impl AuthAudit for PublishedAudit {
    fn record(&self, a: AuthAttempt) {
        let tenant = a.tenant.as_deref().unwrap_or(souk_schemas::clock::ANY_TENANT);
        let key = attempt_key(a.tenant.as_deref(), a.principal.as_deref(), &a.ip);
        let event = AuthAttempted {
            envelope: Envelope::external(tenant, &format!("auth/{}", uuid::Uuid::new_v4()), a.at_ms),
            ip: a.ip,
            success: a.principal.is_some(),
            principal: a.principal,
            path: a.path,
            user_agent: a.user_agent,
        };
        let publisher = self.publisher.clone();
        tokio::spawn(async move {
            if let Err(e) = publisher.publish(vec![Publish::new(key, GatewayEvent::AuthAttempt(event))]).await {
                tracing::warn!(error = ?e, "the authentication audit could not be published");
            }
        });
    }
}
