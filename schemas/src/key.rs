//! Record keys. Every keyed topic's key is `<tenant>|<entity part>|…` (topology.toml's `key` says
//! which parts): the tenant first, so a key alone says whose data a record is, and Kafka's
//! partitioner keeps one entity's records in order on one partition. This module is the only
//! place keys are built or taken apart.

use std::fmt;

/// Joins a key's parts.
pub const SEPARATOR: char = '|';

/// A key that does not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key {key:?} is not {shape}")]
pub struct KeyError {
    /// The key as received.
    pub key: String,
    /// The shape it should have had, e.g. `<tenant>|<customer>`.
    pub shape: String,
}

/// The tenant a key belongs to: its first part, when not empty.
pub fn tenant_of(key: &str) -> Option<&str> {
    key.split(SEPARATOR).next().filter(|t| !t.is_empty())
}

/// Splits `key` into exactly `N` non-empty parts, or says it is not `shape`.
fn parts<'a, const N: usize>(key: &'a str, shape: &str) -> Result<[&'a str; N], KeyError> {
    let error = || KeyError { key: key.to_string(), shape: shape.to_string() };
    let split: Vec<&str> = key.split(SEPARATOR).collect();
    let parts: [&str; N] = split.try_into().map_err(|_| error())?;
    if parts.iter().any(|p| p.is_empty()) {
        return Err(error());
    }
    Ok(parts)
}

/// `<tenant>|<customer>`: a conversation, an order session, a customer's ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerKey<'a> {
    /// The whole key.
    pub text: &'a str,
    /// The tenant (business).
    pub tenant: &'a str,
    /// The customer's channel id (WhatsApp wa_id).
    pub customer: &'a str,
}

impl<'a> CustomerKey<'a> {
    /// The key of `customer` of `tenant`.
    pub fn of(tenant: &str, customer: &str) -> String {
        format!("{tenant}{SEPARATOR}{customer}")
    }

    /// Parses a key of exactly two non-empty parts.
    pub fn parse(key: &'a str) -> Result<CustomerKey<'a>, KeyError> {
        let [tenant, customer] = parts(key, "<tenant>|<customer>")?;
        Ok(CustomerKey { text: key, tenant, customer })
    }

    /// Parses a key that must belong to `tenant`.
    pub fn parse_in(key: &'a str, tenant: &str) -> Result<CustomerKey<'a>, KeyError> {
        match CustomerKey::parse(key) {
            Ok(k) if k.tenant == tenant => Ok(k),
            _ => Err(KeyError { key: key.to_string(), shape: format!("<{tenant}>|<customer>") }),
        }
    }
}

/// `<tenant>|<order id>`: one order (the order directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderKey<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The order id.
    pub order_id: &'a str,
}

impl<'a> OrderKey<'a> {
    /// The key of order `order_id` of `tenant`.
    pub fn of(tenant: &str, order_id: &str) -> String {
        format!("{tenant}{SEPARATOR}{order_id}")
    }

    /// Parses a key of exactly two non-empty parts.
    pub fn parse(key: &'a str) -> Result<OrderKey<'a>, KeyError> {
        let [tenant, order_id] = parts(key, "<tenant>|<order id>")?;
        Ok(OrderKey { tenant, order_id })
    }
}

/// `<tenant>|<bundle id>`: one bundle of a multi-vendor order, and the negotiations about its legs
/// (co-partitioned with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleKey<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The bundle id.
    pub bundle_id: &'a str,
}

impl<'a> BundleKey<'a> {
    /// The key of bundle `bundle_id` of `tenant`.
    pub fn of(tenant: &str, bundle_id: &str) -> String {
        format!("{tenant}{SEPARATOR}{bundle_id}")
    }

    /// Parses a key of exactly two non-empty parts.
    pub fn parse(key: &'a str) -> Result<BundleKey<'a>, KeyError> {
        let [tenant, bundle_id] = parts(key, "<tenant>|<bundle id>")?;
        Ok(BundleKey { tenant, bundle_id })
    }
}

/// `<tenant>|<negotiation id>`: one negotiation in the compacted directory the gateway routes
/// partner replies by.
pub struct NegotiationKey;

impl NegotiationKey {
    /// The key of negotiation `negotiation_id` of `tenant`.
    pub fn of(tenant: &str, negotiation_id: &str) -> String {
        format!("{tenant}{SEPARATOR}{negotiation_id}")
    }
}

/// `<tenant>|<id>`: one partner or product of a tenant on the compacted catalog topics.
pub struct CatalogKey;

impl CatalogKey {
    /// The key of partner or product `id` of `tenant`.
    pub fn of(tenant: &str, id: &str) -> String {
        format!("{tenant}{SEPARATOR}{id}")
    }
}

/// `<tenant>|<material>|<color>`: one inventory pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolKey<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// Material of the pool.
    pub material: &'a str,
    /// Color of the pool.
    pub color: &'a str,
}

impl<'a> PoolKey<'a> {
    /// The key of the `material`/`color` pool of `tenant`.
    pub fn of(tenant: &str, material: &str, color: &str) -> String {
        format!("{tenant}{SEPARATOR}{material}{SEPARATOR}{color}")
    }

    /// Parses a key of exactly three non-empty parts.
    pub fn parse(key: &'a str) -> Result<PoolKey<'a>, KeyError> {
        let [tenant, material, color] = parts(key, "<tenant>|<material>|<color>")?;
        Ok(PoolKey { tenant, material, color })
    }
}

impl fmt::Display for PoolKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{SEPARATOR}{}{SEPARATOR}{}", self.tenant, self.material, self.color)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("t|919800000001", Some(("t", "919800000001")))]
    #[case("t|", None)]
    #[case("|c", None)]
    #[case("t", None)]
    #[case("t|c|x", None)]
    fn customer_keys(#[case] key: &str, #[case] parsed: Option<(&str, &str)>) {
        assert_eq!(CustomerKey::parse(key).ok().map(|k| (k.tenant, k.customer)), parsed);
        if let Some((t, c)) = parsed {
            assert_eq!(CustomerKey::of(t, c), key);
        }
    }

    #[rstest]
    #[case("t|cotton|blue", Some(("t", "cotton", "blue")))]
    #[case("t|cotton", None)]
    #[case("t||blue", None)]
    #[case("t|a|b|c", None)]
    fn pool_keys(#[case] key: &str, #[case] parsed: Option<(&str, &str, &str)>) {
        let got = PoolKey::parse(key).ok();
        assert_eq!(got.map(|k| (k.tenant, k.material, k.color)), parsed);
        if let Some(k) = got {
            assert_eq!(k.to_string(), key);
            assert_eq!(PoolKey::of(k.tenant, k.material, k.color), key);
        }
    }

    #[test]
    fn errors_say_the_expected_shape_and_tenants_are_the_first_part() {
        assert_eq!(CustomerKey::parse("x").unwrap_err().to_string(), "key \"x\" is not <tenant>|<customer>");
        assert_eq!(CustomerKey::parse_in("a|c", "b").unwrap_err().to_string(), "key \"a|c\" is not <b>|<customer>");
        assert!(CustomerKey::parse_in("b|c", "b").is_ok());
        assert_eq!(tenant_of("t|x|y"), Some("t"));
        assert_eq!(tenant_of("|x"), None);
    }
}

/// `<tenant>|<intent id>`: one standing intent (rules SI1).
pub struct IntentKey;

impl IntentKey {
    /// The key of standing intent `intent_id` of `tenant`.
    pub fn of(tenant: &str, intent_id: &str) -> String {
        format!("{tenant}{SEPARATOR}{intent_id}")
    }
}

/// `<tenant>|<kind>|<subject>`: what observations are about — a place's weather (`weather`) or a
/// product's stock and price (`product`); the key of the observation join (rules SI3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectKey<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// `weather` or `product`.
    pub kind: &'a str,
    /// The location or the product id.
    pub subject: &'a str,
}

impl<'a> SubjectKey<'a> {
    /// The key of `kind` subject `subject` of `tenant`.
    pub fn of(tenant: &str, kind: &str, subject: &str) -> String {
        format!("{tenant}{SEPARATOR}{kind}{SEPARATOR}{subject}")
    }

    /// Parses a key of exactly three non-empty parts.
    pub fn parse(key: &'a str) -> Result<SubjectKey<'a>, KeyError> {
        let [tenant, kind, subject] = parts(key, "<tenant>|<kind>|<subject>")?;
        Ok(SubjectKey { tenant, kind, subject })
    }
}
