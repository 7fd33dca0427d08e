//! Meta's webhook authentication (DECISIONS C1): `X-Hub-Signature-256: sha256=<hex>` is the
//! HMAC-SHA256 of the raw body under the app secret, compared in constant time, and an optional
//! `X-Hub-Timestamp` must be within the allowed skew.

use super::error::ApiError;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Signs `body` like Meta does: `sha256=<lowercase hex HMAC-SHA256(app_secret, body)>`. Used by
/// tests and the demo to produce deliveries the gateway accepts.
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(app_secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// True when `header` (the `X-Hub-Signature-256` value) is the signature of `body` under
/// `app_secret`. The comparison is constant-time (`Mac::verify_slice`).
pub fn verify(app_secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else { return false };
    let Ok(expected) = hex::decode(hex_sig) else { return false };
    let mut mac = HmacSha256::new_from_slice(app_secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Checks an optional `X-Hub-Timestamp` (epoch seconds) against `now_ms`: absent passes; not a
/// number, or further than `max_skew_secs` from now in either direction, is a 401.
pub fn check_timestamp(header: Option<&str>, now_ms: i64, max_skew_secs: i64) -> Result<(), ApiError> {
    let Some(raw) = header else { return Ok(()) };
    let secs: i64 = raw.trim().parse().map_err(|_| ApiError::unauthorized("BAD_TIMESTAMP", "X-Hub-Timestamp is not epoch seconds"))?;
    let skew_ms = secs.saturating_mul(1000).saturating_sub(now_ms).saturating_abs();
    if skew_ms > max_skew_secs.saturating_mul(1000) {
        return Err(ApiError::unauthorized("STALE_TIMESTAMP", format!("X-Hub-Timestamp is {} s away from now (max {max_skew_secs} s)", skew_ms / 1000)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let sig = sign("s3cret", b"{}");
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        assert!(verify("s3cret", b"{}", &sig));
        assert!(verify("s3cret", b"{}", &sig.to_uppercase().replace("SHA256=", "sha256=")), "hex case does not matter");
        assert!(!verify("other", b"{}", &sig));
        assert!(!verify("s3cret", b"{ }", &sig));
        assert!(!verify("s3cret", b"{}", &sig[7..]), "prefix required");
        assert!(!verify("s3cret", b"{}", "sha256=zz"));
    }

    #[test]
    fn timestamp_skew_boundaries() {
        let now = 1_700_000_000_000;
        assert!(check_timestamp(None, now, 300).is_ok());
        assert!(check_timestamp(Some("1700000300"), now, 300).is_ok());
        assert!(check_timestamp(Some("1699999700"), now, 300).is_ok());
        assert!(check_timestamp(Some("1700000301"), now, 300).is_err());
        assert!(check_timestamp(Some("1699999699"), now, 300).is_err());
        assert!(check_timestamp(Some("soon"), now, 300).is_err());
    }
}
