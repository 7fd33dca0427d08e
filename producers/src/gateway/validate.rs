//! Field checks shared by the owner commands: exact decimals (strings or JSON numbers, never
//! rounded), positive amounts within the scale their Avro field allows, key-safe names and ids.
//! Every failure is a 400 whose reason names the field.

use super::error::ApiError;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::Value as Json;
use std::str::FromStr;

/// Money fields: Avro decimal(18,2).
pub const MONEY_SCALE: u32 = 2;
/// Meter fields: Avro decimal(18,3).
pub const METERS_SCALE: u32 = 3;
/// Digits an Avro decimal of the money/meter fields holds.
const PRECISION: u32 = 18;
/// Longest id or name accepted.
const MAX_LEN: usize = 128;

/// A 400 `INVALID_FIELD` naming `field`.
pub fn invalid(field: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("INVALID_FIELD", format!("{field}: {reason}"))
}

/// Deserializes a decimal given as a JSON string (`"500.00"`) or number, exactly.
pub fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    let text = match Json::deserialize(d)? {
        Json::String(s) => s,
        Json::Number(n) => n.to_string(),
        other => return Err(serde::de::Error::custom(format!("expected a decimal string like \"500.00\", got {other}"))),
    };
    Decimal::from_str(text.trim()).map_err(|e| serde::de::Error::custom(format!("{text:?} is not a decimal: {e}")))
}

/// [`decimal`] for optional fields (absent or null ⇒ `None`).
pub fn opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "decimal")] Decimal);
    Ok(Option::<Wrap>::deserialize(d)?.map(|Wrap(v)| v))
}

/// `value` with at most `scale` decimals and within the Avro field's precision; `positive` also
/// refuses zero (otherwise only negatives are refused).
pub fn amount(field: &str, value: Decimal, scale: u32, positive: bool) -> Result<Decimal, ApiError> {
    if (value.is_sign_negative() && !value.is_zero()) || (positive && value.is_zero()) {
        return Err(invalid(field, if positive { "must be greater than 0" } else { "must not be negative" }));
    }
    let normalized = value.normalize();
    if normalized.scale() > scale {
        return Err(invalid(field, format!("at most {scale} decimal places")));
    }
    if normalized.trunc().abs() >= Decimal::from(10u64.pow(PRECISION - scale)) {
        return Err(invalid(field, "too large"));
    }
    Ok(normalized)
}

/// A catalog name (material, color, alias): trimmed and lowercased, non-empty, no `|` (the key
/// separator) and no control characters.
pub fn name(field: &str, value: &str) -> Result<String, ApiError> {
    let v = value.trim().to_lowercase();
    check_text(field, &v)?;
    Ok(v)
}

/// An id given by the client (payment, batch, customer, command): trimmed, non-empty, no `|`, no
/// control characters. Case is kept.
pub fn ident(field: &str, value: &str) -> Result<String, ApiError> {
    let v = value.trim().to_string();
    check_text(field, &v)?;
    Ok(v)
}

/// [`ident`] for optional free-text-ish fields; blank ⇒ `None`.
pub fn opt_ident(field: &str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => ident(field, v).map(Some),
        None => Ok(None),
    }
}

fn check_text(field: &str, v: &str) -> Result<(), ApiError> {
    if v.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if v.chars().count() > MAX_LEN {
        return Err(invalid(field, format!("at most {MAX_LEN} characters")));
    }
    if v.contains('|') || v.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain '|' or control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("500.00", true, Some("500"))]
    #[case("0.01", true, Some("0.01"))]
    #[case("0", true, None)]
    #[case("0", false, Some("0"))]
    #[case("-1", false, None)]
    #[case("1.001", true, None)]
    #[case("1.0010", true, None)]
    #[case("10000000000000000", true, None)]
    #[case("9999999999999999.99", true, Some("9999999999999999.99"))]
    fn money_amounts(#[case] input: &str, #[case] positive: bool, #[case] expected: Option<&str>) {
        let got = amount("amount", input.parse().unwrap(), MONEY_SCALE, positive).ok().map(|d| d.to_string());
        assert_eq!(got.as_deref(), expected, "{input}");
    }

    #[test]
    fn names_are_normalized_and_key_safe() {
        assert_eq!(name("material", "  Cotton ").unwrap(), "cotton");
        assert!(name("material", " ").is_err());
        assert!(name("color", "blue|red").unwrap_err().reason.starts_with("color:"));
        assert_eq!(ident("payment_id", " P-1 ").unwrap(), "P-1");
        assert_eq!(opt_ident("actor", Some("  ")).unwrap(), None);
    }

    #[test]
    fn decimals_from_strings_and_numbers() {
        #[derive(Deserialize)]
        struct T {
            #[serde(deserialize_with = "decimal")]
            a: Decimal,
            #[serde(default, deserialize_with = "opt_decimal")]
            b: Option<Decimal>,
        }
        let t: T = serde_json::from_str(r#"{"a": "120.50", "b": 0.1}"#).unwrap();
        assert_eq!((t.a.to_string(), t.b.map(|b| b.to_string())), ("120.50".into(), Some("0.1".into())));
        let t: T = serde_json::from_str(r#"{"a": 7}"#).unwrap();
        assert_eq!((t.a, t.b), (Decimal::from(7), None));
        assert!(serde_json::from_str::<T>(r#"{"a": "seven"}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"a": true}"#).is_err());
    }
}
