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
    let digits = text.strip_prefix('-').unwrap_or(&text);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    let plain = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !(plain(int) && plain(frac)) {
        return Err(serde::de::Error::custom(format!("{text:?} is not a decimal like \"500.00\" (digits, an optional '-' and '.')")));
    }
    Decimal::from_str(&text).map_err(|e| serde::de::Error::custom(format!("{text:?} is not a decimal: {e}")))
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

/// A percentage 0 to 100 with at most 2 decimals (Avro decimal(5,2)).
pub fn percent(field: &str, value: Decimal) -> Result<Decimal, ApiError> {
    let value = amount(field, value, MONEY_SCALE, false)?;
    if value > Decimal::ONE_HUNDRED {
        return Err(invalid(field, "must be 0 to 100"));
    }
    Ok(value)
}

/// A catalog name (material, color, alias): at most 128 characters without `|` (the key
/// separator) or control characters, then trimmed (must not be blank) and lowercased.
pub fn name(field: &str, value: &str) -> Result<String, ApiError> {
    check_text(field, value)?;
    Ok(value.trim().to_lowercase())
}

/// An id given by the client (payment, batch, customer, command): at most 128 characters without
/// `|` or control characters, then trimmed (must not be blank). Case is kept. The raw value is
/// checked so the rules are exactly the OpenAPI document's pattern and length.
pub fn ident(field: &str, value: &str) -> Result<String, ApiError> {
    check_text(field, value)?;
    Ok(value.trim().to_string())
}

/// A payment provider's token (a Stripe payment method `pm_...`, a connected account `acct_...`):
/// 1 to 255 ASCII letters, digits and `_`, so it can go into a form-encoded call unescaped.
pub fn payment_token(field: &str, value: &str, prefix: &str) -> Result<String, ApiError> {
    let v = value.trim();
    let ok = v.starts_with(prefix) && v.len() > prefix.len() && v.len() <= 255 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(invalid(field, format!("must be a provider token {prefix}… of ASCII letters, digits and _ (at most 255)")));
    }
    Ok(v.to_string())
}

/// A payment method token (Stripe `pm_...`).
pub fn payment_method(field: &str, value: &str) -> Result<String, ApiError> {
    payment_token(field, value, "pm_")
}

/// [`ident`] for optional free-text-ish fields; blank ⇒ `None`.
pub fn opt_ident(field: &str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    match value {
        Some(raw) if !raw.trim().is_empty() => ident(field, raw).map(Some),
        Some(raw) if raw.chars().any(char::is_control) => Err(invalid(field, "must not contain '|' or control characters")),
        _ => Ok(None),
    }
}

/// The path (`entry[0].changes[0].value.messages[1].text.body`) of the first string or object key
/// in `value` that contains a NUL character, if any. Such text could be produced to Kafka but
/// never stored by the read side (Postgres refuses 0x00 in `text` and `\u0000` in `jsonb`), so the
/// gateway refuses it instead of letting one record block a projection.
pub fn nul_path(value: &Json) -> Option<String> {
    fn walk(value: &Json, path: &mut String) -> bool {
        match value {
            Json::String(s) => s.contains('\0'),
            Json::Array(items) => items.iter().enumerate().any(|(i, v)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(v, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            Json::Object(map) => map.iter().any(|(k, v)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&k.replace('\0', "\\u0000"));
                let found = k.contains('\0') || walk(v, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            _ => false,
        }
    }
    let mut path = String::new();
    walk(value, &mut path).then(|| if path.is_empty() { "the body".to_string() } else { path })
}

/// A 400 `INVALID_CHARACTER` unless `value` is free of NUL characters ([`nul_path`]).
pub fn refuse_nul(value: &Json) -> Result<(), ApiError> {
    match nul_path(value) {
        None => Ok(()),
        Some(path) => Err(ApiError::bad_request("INVALID_CHARACTER", format!("{path}: contains a NUL character (\\u0000), which souk cannot store"))),
    }
}

fn check_text(field: &str, v: &str) -> Result<(), ApiError> {
    if v.trim().is_empty() {
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

/// A whole number as JSON Schema's `integer` has it: `5` or `5.0` (JSON does not tell them apart),
/// never `5.5`, within `i64`.
pub fn whole<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(serde::de::Error::custom(format!("{n} is not a whole number"))),
    }
}

/// [`whole`] for optional fields (absent or null ⇒ `None`).
pub fn opt_whole<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "whole")] i64);
    Ok(Option::<Whole>::deserialize(d)?.map(|w| w.0))
}

/// Free text (names, notes, messages): 1–4096 characters, not blank, without control characters
/// other than tab, line feed and carriage return; trimmed. [`TEXT_PATTERN`] says the same.
pub fn text(field: &str, value: &str) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() || value.chars().count() > MAX_TEXT || value.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        return Err(invalid(field, format!("must be 1 to {MAX_TEXT} characters, not blank, without control characters")));
    }
    Ok(v.to_string())
}

/// Longest free text.
pub const MAX_TEXT: usize = 4096;

/// Longest message a person sends a customer (source 002 a.5 / d).
pub const MAX_MESSAGE: usize = 5000;

/// HTML tags a message keeps (source 002 d); every other tag is removed, `<script>` with its content.
const KEPT_TAGS: [&str; 7] = ["b", "i", "u", "em", "strong", "code", "pre"];

/// A message to a customer (rules SV1): 1–5,000 characters as written; `<script>…</script>` is
/// removed with its content and every tag but `b i u em strong code pre` is stripped; trimmed;
/// what is left must not be empty.
pub fn message_content(field: &str, value: &str) -> Result<String, ApiError> {
    let count = value.chars().count();
    if count == 0 || count > MAX_MESSAGE {
        return Err(invalid(field, format!("must be 1 to {MAX_MESSAGE} characters (is {count})")));
    }
    if value.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        return Err(invalid(field, "must not contain control characters"));
    }
    let cleaned = strip_html(value);
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        return Err(invalid(field, "is empty once HTML is removed"));
    }
    Ok(cleaned.to_string())
}

/// Removes `<script>` elements and every tag not in [`KEPT_TAGS`].
fn strip_html(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let Some(offset) = text[i..].find('<') else {
            out.push_str(&text[i..]);
            break;
        };
        out.push_str(&text[i..i + offset]);
        let start = i + offset;
        let Some(close) = text[start..].find('>') else {
            out.push_str(&text[start..]);
            break;
        };
        let end = start + close + 1;
        let inner = lower[start + 1..end - 1].trim();
        let closing = inner.starts_with('/');
        let name: String = inner.trim_start_matches('/').chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        if name == "script" && !closing {
            // Drop everything up to and including the matching </script> (or the rest).
            i = lower[end..].find("</script").map_or(text.len(), |at| lower[end + at..].find('>').map_or(text.len(), |gt| end + at + gt + 1));
            continue;
        }
        if KEPT_TAGS.contains(&name.as_str()) && !inner.contains(['"', '\'', '=']) {
            out.push_str(&text[start..end]);
        }
        i = end;
    }
    out
}

/// The JSON Schema pattern of [`text`]: some character that is not white space, and no control
/// characters but tab, line feed and carriage return.
pub const TEXT_PATTERN: &str = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$";

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("Hello <b>there</b>", Ok("Hello <b>there</b>"))]
    #[case("a<script>alert(1)</script>b", Ok("ab"))]
    #[case("<SCRIPT src=x>evil()</SCRIPT> hi", Ok("hi"))]
    #[case("<div onclick=\"x\">hi</div> <i>ok</i>", Ok("hi <i>ok</i>"))]
    #[case("<b onmouseover='x'>no attributes</b>", Ok("no attributes</b>"))]
    #[case("2 < 3 and 4 > 1", Ok("2  1"))]
    #[case("", Err(()))]
    #[case("<script>only</script>", Err(()))]
    fn message_content_rules(#[case] input: &str, #[case] expected: Result<&str, ()>) {
        assert_eq!(message_content("text", input).map_err(|_| ()), expected.map(str::to_string));
    }

    #[test]
    fn message_content_length_limits() {
        assert!(message_content("text", &"x".repeat(5000)).is_ok());
        let err = message_content("text", &"x".repeat(5001)).unwrap_err();
        assert!(err.reason.contains("5000"), "{}", err.reason);
    }

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
    fn nul_anywhere_in_a_body_is_found_with_its_path() {
        let v: Json = serde_json::from_str(r#"{"entry": [{"changes": [{"value": {"messages": [{"text": {"body": "hi"}}, {"text": {"body": "a\u0000b"}}]}}]}]}"#).unwrap();
        assert_eq!(nul_path(&v).as_deref(), Some("entry[0].changes[0].value.messages[1].text.body"));
        let key: Json = serde_json::from_str(r#"{"ok": 1, "k\u0000": 2}"#).unwrap();
        assert_eq!(nul_path(&key).as_deref(), Some("k\\u0000"));
        assert_eq!(nul_path(&serde_json::from_str(r#""\u0000""#).unwrap()).as_deref(), Some("the body"));
        assert_eq!(nul_path(&serde_json::from_str(r#"{"a": ["x", {"b": "\\u0000 is only text"}]}"#).unwrap()), None);
        assert_eq!(refuse_nul(&key).unwrap_err().code, "INVALID_CHARACTER");
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

    /// JSON Schema's integers: `5` and `5.0` are the same number; `5.5` is not whole.
    #[test]
    fn whole_numbers_as_json_schema_has_them() {
        #[derive(Debug, Deserialize)]
        struct W(#[serde(deserialize_with = "super::whole")] i64);
        assert_eq!(serde_json::from_str::<W>("5").unwrap().0, 5);
        assert_eq!(serde_json::from_str::<W>("1585.0").unwrap().0, 1585);
        assert!(serde_json::from_str::<W>("5.5").is_err());
        assert!(serde_json::from_str::<W>("\"5\"").is_err());
    }

    /// Free text: tabs and new lines are fine, other control characters and blank text are not.
    #[test]
    fn free_text_is_trimmed_and_refuses_control_characters() {
        assert_eq!(super::text("t", "  Yes, proceed\n").unwrap(), "Yes, proceed");
        assert!(super::text("t", "a\u{5}b").is_err());
        assert!(super::text("t", " \t ").is_err());
        assert!(super::text("t", &"é".repeat(super::MAX_TEXT)).is_ok(), "characters are counted, not bytes");
        assert!(super::text("t", &"a".repeat(super::MAX_TEXT + 1)).is_err());
    }
}
