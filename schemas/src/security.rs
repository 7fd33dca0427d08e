//! Authentication audit and anomalies (source 002 §d, docs/rules/inbox.md AU3): every API-key
//! presentation the HTTP API could not match, and the first use of a key from an address, as
//! `AuthAttempted`; the anomalies the `auth-anomalies` processor finds in them. Failures are keyed
//! by the client address (`*|<ip>`: an unknown key names no tenant), successes by the key's holder
//! (`<tenant>|<principal>`).

use crate::envelope::Envelope;
use serde::{Deserialize, Serialize};

/// One presentation of an API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthAttempted {
    pub envelope: Envelope,
    /// The client address.
    pub ip: String,
    /// Whose key it was (`owner` or a staff name); `None` for a key nobody has.
    pub principal: Option<String>,
    pub success: bool,
    /// The route asked for (its template, never the key).
    pub path: String,
    pub user_agent: Option<String>,
}

/// An anomaly found in the attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityAnomaly {
    pub envelope: Envelope,
    /// `excessive_failed_logins` or `multiple_ip_addresses` (the source's names).
    pub kind: String,
    /// `high` or `medium`.
    pub severity: String,
    /// The address (failures) or `<tenant>|<principal>` (addresses of one key).
    pub subject: String,
    /// Attempts (failures) or distinct addresses in the window.
    pub count: i32,
    pub window_seconds: i64,
    /// The addresses involved.
    pub ips: Vec<String>,
}

/// What `security.inputs` carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecurityInput {
    AuthAttempted(AuthAttempted),
}

/// What the anomaly processor writes (`security.events`, and `notifications.inputs` for a
/// tenant's own key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecurityOutput {
    SecurityAnomaly(SecurityAnomaly),
    NotificationRaised(crate::social::NotificationRaised),
}

crate::stream_event!(SecurityInput { AuthAttempted });
crate::stream_event!(SecurityOutput { SecurityAnomaly, NotificationRaised });

/// The key of an attempt: `*|<ip>` for a failure, `<tenant>|<principal>` for a success.
pub fn attempt_key(tenant: Option<&str>, principal: Option<&str>, ip: &str) -> String {
    match (tenant, principal) {
        (Some(t), Some(p)) => format!("{t}|{p}"),
        _ => format!("{}|{ip}", crate::clock::ANY_TENANT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::tests::round_trip;

    #[test]
    fn security_records_round_trip_through_avro() {
        let envelope = Envelope::external("*", "a1", 5);
        let attempt = AuthAttempted { envelope: envelope.clone(), ip: "127.0.0.1".into(), principal: None, success: false, path: "/v1/rules".into(), user_agent: Some("curl".into()) };
        round_trip(&["souk.security.AuthAttempted"], &attempt);
        let anomaly = SecurityOutput::SecurityAnomaly(SecurityAnomaly {
            envelope,
            kind: "excessive_failed_logins".into(),
            severity: "high".into(),
            subject: "127.0.0.1".into(),
            count: 6,
            window_seconds: 3600,
            ips: vec!["127.0.0.1".into()],
        });
        round_trip(&["souk.security.SecurityAnomaly", "souk.social.NotificationRaised"], &anomaly);
    }
}
