//! Meta's webhook authentication (rules C1): `X-Hub-Signature-256: sha256=<hex>` is the
//! HMAC-SHA256 of the raw body under the app secret, compared in constant time, and an optional
//! `X-Hub-Timestamp` must be within the allowed skew.

use super::error::ApiError;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use souk_runtime::tenants::Tenants;
use std::collections::{BTreeMap, BTreeSet};

type HmacSha256 = Hmac<Sha256>;

/// The tenants grouped by app secret. Tenants of one Meta app share its secret, so a delivery is
/// verified once per distinct secret (not once per tenant): with 10,000 tenants of one app an
/// unsigned 256 KiB body costs one HMAC, not 10,000.
#[derive(Debug, Clone, Default)]
pub struct AppSecrets(Vec<(String, BTreeSet<String>)>);

impl AppSecrets {
    /// Groups `tenants` by the app secret of their WhatsApp number.
    pub fn of(tenants: &Tenants) -> AppSecrets {
        AppSecrets::grouped(tenants.iter().map(|t| (t.app_secret.expose(), &t.id)))
    }

    /// Groups the tenants with an Instagram connection by that connection's app secret.
    pub fn of_instagram(tenants: &Tenants) -> AppSecrets {
        AppSecrets::grouped(tenants.iter().filter_map(|t| t.instagram.as_ref().map(|ig| (ig.app_secret.expose(), &t.id))))
    }

    fn grouped<'a>(pairs: impl Iterator<Item = (&'a str, &'a String)>) -> AppSecrets {
        let mut by_secret: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for (secret, id) in pairs {
            by_secret.entry(secret).or_default().insert(id.clone());
        }
        AppSecrets(by_secret.into_iter().map(|(secret, ids)| (secret.to_string(), ids)).collect())
    }

    /// Authenticates a Meta delivery (rules C1): the tenants whose app secret signed `body`, or
    /// 401 "Missing signature header" / "Invalid signature".
    pub fn authenticate(&self, headers: &axum::http::HeaderMap, body: &[u8]) -> Result<BTreeSet<String>, ApiError> {
        let signature = headers
            .get(super::whatsapp::SIGNATURE_HEADER)
            .ok_or_else(|| ApiError::unauthorized("MISSING_SIGNATURE", "Missing signature header"))?
            .to_str()
            .map_err(|_| ApiError::unauthorized("BAD_SIGNATURE", "Invalid signature"))?;
        // The app secret depends on the tenant, and the tenant is named inside the (untrusted)
        // body: try each distinct app secret once on the raw bytes; only a verified body is parsed.
        let signed_by = self.signers(body, signature);
        if signed_by.is_empty() {
            return Err(ApiError::unauthorized("BAD_SIGNATURE", "Invalid signature"));
        }
        Ok(signed_by)
    }

    /// How many distinct secrets there are (the HMACs an unsigned delivery costs).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no tenant is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The tenants whose app secret signed `body` as `header` says (empty: nobody did).
    pub fn signers(&self, body: &[u8], header: &str) -> BTreeSet<String> {
        self.0.iter().filter(|(secret, _)| verify(secret, body, header)).flat_map(|(_, ids)| ids.iter().cloned()).collect()
    }
}

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
        return Err(ApiError::unauthorized("STALE_TIMESTAMP", format!("Webhook timestamp too old: X-Hub-Timestamp is {} s away from now (max {max_skew_secs} s)", skew_ms / 1000)));
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
    fn one_hmac_per_distinct_app_secret() {
        use souk_runtime::tenants::{Secret, Tenant};
        let tenant = |i: usize, secret: &str| Tenant {
            id: format!("t{i}"),
            name: format!("T{i}"),
            phone_number_id: format!("{}", 1000 + i),
            app_secret: Secret::new(secret),
            verify_token: Secret::new(format!("v{i}")),
            api_key: Secret::new(format!("k{i}")),
            access_token: Secret::new("x"),
            intent_confidence_threshold: None,
            payments_secret_key: None,
            instagram: None,
            whatsapp_inbox: false,
            staff: vec![],
            rate_limits: None,
        };
        let mut list: Vec<Tenant> = (0..10_000).map(|i| tenant(i, "meta-app-1")).collect();
        list.push(tenant(10_000, "meta-app-2"));
        let secrets = AppSecrets::of(&Tenants::from_list(list).unwrap());
        assert_eq!(secrets.len(), 2, "10,001 tenants of two Meta apps: two HMACs per delivery");
        let body = br#"{"entry":[]}"#;
        assert_eq!(secrets.signers(body, &sign("meta-app-1", body)).len(), 10_000);
        assert_eq!(secrets.signers(body, &sign("meta-app-2", body)).into_iter().collect::<Vec<_>>(), ["t10000"]);
        assert!(secrets.signers(body, &sign("nobody", body)).is_empty());
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
