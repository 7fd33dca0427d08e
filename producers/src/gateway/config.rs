//! Gateway settings: limits that protect the edge. Deserializable (`deny_unknown_fields`) so a
//! deployment can set them from configuration; [`Default`] gives the values rules C1 fixes.

use serde::Deserialize;

/// Limits applied by the gateway's routes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Largest request body accepted, in bytes (larger ⇒ 413). Meta's deliveries are far smaller.
    pub body_limit_bytes: usize,
    /// Largest accepted difference between `X-Hub-Timestamp` and now, in seconds (C1: 300 passes,
    /// 301 fails, either direction).
    pub max_skew_secs: i64,
    /// Longest wait for the broker's acknowledgement before answering 503 (Meta redelivers, an
    /// owner's client retries with the same command id): a broker outage must not hold requests
    /// open until the producer's own 30 s message timeout.
    pub publish_timeout_ms: u64,
}

impl Default for GatewayConfig {
    fn default() -> GatewayConfig {
        GatewayConfig { body_limit_bytes: 256 * 1024, max_skew_secs: 300, publish_timeout_ms: 10_000 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_fields() {
        let c: GatewayConfig = serde_json::from_str(r#"{"max_skew_secs": 60}"#).unwrap();
        assert_eq!(c, GatewayConfig { max_skew_secs: 60, ..GatewayConfig::default() });
        assert!(serde_json::from_str::<GatewayConfig>(r#"{"body_limit": 1}"#).is_err());
    }
}
