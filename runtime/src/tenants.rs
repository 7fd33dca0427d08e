//! The tenant registry (`tenants.toml`): which business a WhatsApp number belongs to, the secrets
//! that authenticate its traffic (Meta app secret, webhook verify token, owner API key, Cloud API
//! access token, payment provider secret key) and its display name. Shared by the gateway
//! (routing, signatures, owner commands), the read API (tenant scoping), the outbound dispatcher
//! and the payments dispatcher (bearer tokens per tenant).
//!
//! Secrets are written literally or as `env:NAME` (read from the environment at load time) and
//! never printed: [`Secret`]'s `Debug` is redacted. API keys are compared in constant time.

use anyhow::{anyhow, bail, Context};
use rust_decimal::Decimal;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use subtle::ConstantTimeEq;

/// A secret value; `Debug`/`Display` never reveal it.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String")]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that needs it (HMAC key, bearer header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Wraps a value that is already resolved (tests, the demo).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// Constant-time equality with `candidate` (compares SHA-256 digests, so lengths leak nothing).
    pub fn matches(&self, candidate: &str) -> bool {
        let a = Sha256::digest(self.0.as_bytes());
        let b = Sha256::digest(candidate.as_bytes());
        a.ct_eq(&b).into()
    }
}

impl TryFrom<String> for Secret {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.strip_prefix("env:") {
            Some(name) => std::env::var(name).map(Secret).map_err(|_| format!("environment variable {name} (named by env:{name}) is not set")),
            None => Ok(Secret(value)),
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One tenant (a business) as configured.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// Tenant id used in keys and events (`<tenant>|...`); lowercase letters, digits, `-`, `_`.
    pub id: String,
    /// Business name shown to customers and in the dashboard.
    pub name: String,
    /// WhatsApp Cloud API `phone_number_id` of the business number (routes webhooks here).
    pub phone_number_id: String,
    /// Meta app secret: the HMAC key of `X-Hub-Signature-256`.
    pub app_secret: Secret,
    /// Token Meta echoes in the GET verification handshake.
    pub verify_token: Secret,
    /// Owner API key (`Authorization: Bearer <key>` on owner commands and the read API).
    pub api_key: Secret,
    /// Cloud API access token used by the outbound dispatcher.
    pub access_token: Secret,
    /// Secret key of the tenant's account at the payment provider (Stripe `sk_live_...` /
    /// `sk_test_...`): the payments dispatcher's bearer token for every call it makes for this
    /// tenant's checkouts. A tenant without one takes no payments (its commands fail
    /// `not_configured`).
    #[serde(default)]
    pub payments_secret_key: Option<Secret>,
    /// NLU confidence a customer message needs to be acted on (rules B6/C2; the threshold
    /// itself passes). Below it the session asks one clarifying question, then hands over to a
    /// human. Written as `0.85` or `"0.85"`; in [0, 1] with at most 3 decimals; default 0.80.
    #[serde(default, deserialize_with = "confidence_threshold")]
    pub intent_confidence_threshold: Option<Decimal>,
    /// The tenant's Instagram professional account, when it answers Instagram DMs in the social
    /// inbox (docs/rules/inbox.md).
    #[serde(default)]
    pub instagram: Option<InstagramConnection>,
    /// WhatsApp customers of this tenant are answered by the social inbox (confidence-gated
    /// replies) instead of textile ordering.
    #[serde(default)]
    pub whatsapp_inbox: bool,
    /// Staff API keys with their roles (`[[tenants.staff]]`; rules AU1): the owner's key has
    /// every permission, each of these its role's.
    #[serde(default)]
    pub staff: Vec<StaffKey>,
    /// Command rate limits per API key (`[tenants.rate_limits]`, rules AU2); absent: 60 per
    /// minute and 1,000 per hour (source 002 §a.9).
    #[serde(default)]
    pub rate_limits: Option<crate::rate_limit::RateLimits>,
}

/// One staff member's API key.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StaffKey {
    /// Who it is (logged with what they do; never the key).
    pub name: String,
    /// Their role.
    pub role: crate::permissions::Role,
    /// Their key (`Authorization: Bearer <key>`).
    pub api_key: Secret,
}

/// An Instagram connection (the `[tenants.instagram]` table): which page's messages are this
/// tenant's, how Meta signs their webhooks, and the token replies are sent with.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InstagramConnection {
    /// The Instagram account / page id Meta puts in `entry[].id` (routes webhooks here).
    pub page_id: String,
    /// The Meta app's secret: the HMAC key of `X-Hub-Signature-256` on Instagram webhooks.
    pub app_secret: Secret,
    /// The page access token outbound `/me/messages` calls carry.
    pub access_token: Secret,
    /// Calls per rolling hour Instagram allows the connection (source 002: 200).
    #[serde(default = "InstagramConnection::default_calls_per_hour")]
    pub calls_per_hour: u32,
}

impl InstagramConnection {
    fn default_calls_per_hour() -> u32 {
        200
    }
}

/// The threshold when a tenant sets none (rules B6/C2).
pub const DEFAULT_CONFIDENCE_THRESHOLD: Decimal = Decimal::from_parts(800, 0, 0, false, 3);

impl Tenant {
    /// The NLU confidence this tenant's messages need (its setting, else the default).
    pub fn confidence_threshold(&self) -> Decimal {
        self.intent_confidence_threshold.unwrap_or(DEFAULT_CONFIDENCE_THRESHOLD)
    }
}

/// Reads `intent_confidence_threshold` from a TOML number or string, refusing values outside
/// [0, 1] or finer than the event's 3 decimals (a silently rounded threshold would surprise).
fn confidence_threshold<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Decimal>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Number(f64),
        Text(String),
    }
    let text = match Written::deserialize(deserializer)? {
        // TOML numbers are f64; Rust prints the shortest text that reads back as the same f64, so a
        // value written with at most 3 decimals comes back as exactly what was written.
        Written::Number(n) => n.to_string(),
        Written::Text(t) => t,
    };
    let value: Decimal = text.trim().parse().map_err(|e| serde::de::Error::custom(format!("intent_confidence_threshold {text:?}: {e}")))?;
    if value < Decimal::ZERO || value > Decimal::ONE || value.normalize().scale() > 3 {
        return Err(serde::de::Error::custom(format!("intent_confidence_threshold {text} must be in [0, 1] with at most 3 decimals")));
    }
    Ok(Some(value))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantsFile {
    #[serde(default)]
    tenants: Vec<Tenant>,
}

/// All tenants, indexed by id and by business number.
#[derive(Debug, Clone, Default)]
pub struct Tenants {
    by_id: BTreeMap<String, Tenant>,
    by_number: BTreeMap<String, String>,
    by_page: BTreeMap<String, String>,
}

impl Tenants {
    /// Loads and validates `tenants.toml`.
    pub fn load(path: &Path) -> anyhow::Result<Tenants> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Tenants::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses the TOML text of a tenants file.
    pub fn parse(text: &str) -> anyhow::Result<Tenants> {
        let file: TenantsFile = toml::from_str(text).map_err(|e| anyhow!("{e}"))?;
        Tenants::from_list(file.tenants)
    }

    /// Builds the registry, refusing duplicate ids/numbers and malformed ids.
    pub fn from_list(list: Vec<Tenant>) -> anyhow::Result<Tenants> {
        let mut tenants = Tenants::default();
        for t in list {
            if t.id.is_empty() || !t.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_') {
                bail!("tenant id {:?} must be non-empty lowercase letters, digits, '-' or '_'", t.id);
            }
            if tenants.by_number.insert(t.phone_number_id.clone(), t.id.clone()).is_some() {
                bail!("phone_number_id {} is configured twice", t.phone_number_id);
            }
            if let Some(ig) = &t.instagram {
                if tenants.by_page.insert(ig.page_id.clone(), t.id.clone()).is_some() {
                    bail!("instagram page_id {} is configured twice", ig.page_id);
                }
            }
            if tenants.by_id.contains_key(&t.id) {
                bail!("tenant {} is configured twice", t.id);
            }
            tenants.by_id.insert(t.id.clone(), t);
        }
        Ok(tenants)
    }

    /// The tenant with this id.
    pub fn get(&self, id: &str) -> Option<&Tenant> {
        self.by_id.get(id)
    }

    /// The tenant owning this WhatsApp business number.
    pub fn by_phone_number_id(&self, phone_number_id: &str) -> Option<&Tenant> {
        self.by_number.get(phone_number_id).and_then(|id| self.by_id.get(id))
    }

    /// The tenant whose Instagram connection is page `page_id`.
    pub fn by_instagram_page(&self, page_id: &str) -> Option<&Tenant> {
        self.by_page.get(page_id).and_then(|id| self.by_id.get(id))
    }

    /// The tenant one of whose API keys (the owner's or a staff member's) is `key`.
    pub fn by_api_key(&self, key: &str) -> Option<&Tenant> {
        self.principal(key).map(|(t, _, _)| t)
    }

    /// Whose key `key` is: the tenant, the staff member's name (`owner` for the owner's key) and
    /// role. Every key of every tenant is compared, in constant time.
    pub fn principal(&self, key: &str) -> Option<(&Tenant, &str, crate::permissions::Role)> {
        let mut found = None;
        for t in self.by_id.values() {
            if t.api_key.matches(key) {
                found = Some((t, "owner", crate::permissions::Role::Owner));
            }
            for s in &t.staff {
                if s.api_key.matches(key) {
                    found = Some((t, s.name.as_str(), s.role));
                }
            }
        }
        found
    }

    /// Every tenant, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Tenant> {
        self.by_id.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[tenants]]
id = "bharat"
name = "Bharat Textiles"
phone_number_id = "1001"
app_secret = "s3cret"
verify_token = "verify-me"
api_key = "owner-key"
access_token = "EAAG"
"#;

    #[test]
    fn routes_by_number_and_key_and_never_prints_secrets() {
        let t = Tenants::parse(FILE).unwrap();
        assert_eq!(t.by_phone_number_id("1001").unwrap().id, "bharat");
        assert!(t.by_phone_number_id("999").is_none());
        assert_eq!(t.by_api_key("owner-key").unwrap().id, "bharat");
        assert!(t.by_api_key("owner-ke").is_none());
        let debug = format!("{:?}", t.get("bharat").unwrap());
        assert!(!debug.contains("s3cret") && !debug.contains("owner-key"), "{debug}");
    }

    #[test]
    fn the_payments_secret_key_is_optional_and_never_printed() {
        assert_eq!(Tenants::parse(FILE).unwrap().get("bharat").unwrap().payments_secret_key, None);
        let t = Tenants::parse(&format!("{FILE}payments_secret_key = \"sk_test_bharat\"\n")).unwrap();
        let tenant = t.get("bharat").unwrap();
        assert_eq!(tenant.payments_secret_key.as_ref().map(Secret::expose), Some("sk_test_bharat"));
        assert!(!format!("{tenant:?}").contains("sk_test_bharat"));
    }

    #[test]
    fn an_instagram_connection_routes_its_page() {
        let t = Tenants::parse(&format!("{FILE}whatsapp_inbox = true\n[tenants.instagram]\npage_id = \"1784\"\napp_secret = \"ig-secret\"\naccess_token = \"IGQ\"\n")).unwrap();
        let tenant = t.by_instagram_page("1784").unwrap();
        assert_eq!(tenant.id, "bharat");
        assert!(tenant.whatsapp_inbox);
        assert_eq!(tenant.instagram.as_ref().unwrap().calls_per_hour, 200);
        assert!(t.by_instagram_page("1001").is_none());
        assert!(!format!("{tenant:?}").contains("ig-secret"));
        assert!(Tenants::parse(&format!("{FILE}[tenants.instagram]\npage_id = \"1\"\napp_secret = \"a\"\naccess_token = \"b\"\nwat = 1\n")).is_err());
    }

    #[test]
    fn env_secrets_and_bad_files() {
        std::env::set_var("SOUK_TEST_TENANT_SECRET", "from-env");
        let t = Tenants::parse(&FILE.replace("\"s3cret\"", "\"env:SOUK_TEST_TENANT_SECRET\"")).unwrap();
        assert_eq!(t.get("bharat").unwrap().app_secret.expose(), "from-env");
        assert!(Tenants::parse(&FILE.replace("\"s3cret\"", "\"env:SOUK_TEST_NOT_SET_ANYWHERE\"")).is_err());
        assert!(Tenants::parse(&format!("{FILE}\nwat = 1")).is_err());
        assert!(Tenants::parse(&format!("{FILE}{FILE}")).is_err());
        assert!(Tenants::parse(&FILE.replace("id = \"bharat\"", "id = \"Bharat!\"")).is_err());
    }

    #[test]
    fn confidence_threshold_defaults_and_is_validated() {
        use rust_decimal_macros::dec;
        let threshold = |line: &str| Tenants::parse(&format!("{FILE}{line}\n")).map(|t| t.get("bharat").unwrap().confidence_threshold());
        assert_eq!(threshold("").unwrap(), dec!(0.800));
        assert_eq!(threshold("intent_confidence_threshold = 0.85").unwrap(), dec!(0.85));
        assert_eq!(threshold("intent_confidence_threshold = \"0.925\"").unwrap(), dec!(0.925));
        assert_eq!(threshold("intent_confidence_threshold = 1").unwrap(), dec!(1));
        assert_eq!(threshold("intent_confidence_threshold = 1.0").unwrap(), dec!(1));
        for bad in ["1.5", "-0.1", "0.8125", "\"high\""] {
            let err = threshold(&format!("intent_confidence_threshold = {bad}")).unwrap_err().to_string();
            assert!(err.contains("intent_confidence_threshold"), "{bad}: {err}");
        }
    }
}
