//! Personal data masked in logs (rules PR5; source 002 §d and table (f) example 19): every line
//! souk logs passes through [`mask`] on its way out ([`MaskingWriter`]), so an e-mail address or a
//! phone number that reaches a log message — from souk's own code or a library's — is written
//! masked: `john@x.com` → `jo***@x.com`, `5551234567` → `***-***-4567`.
//!
//! Phone numbers are told from other long numbers (offsets, epoch milliseconds) by where they
//! stand: after a `+`, or as the value of a field whose name says it is a phone or a party to a
//! message (`phone`, `from`, `to`, `wa_id`, `customer`, `sender`, `recipient`, `msisdn`).

use regex::Regex;
use std::borrow::Cow;
use std::io::Write;
use std::sync::LazyLock;

static EMAIL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\b([a-z0-9._%+-]{1,64})@([a-z0-9-]+(?:\.[a-z0-9-]+)+)\b").expect("the e-mail pattern"));
static PHONE_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    // Field names may be wrapped in ANSI styles (colored logs): `\x1b[3mcustomer\x1b[0m\x1b[2m=\x1b[0m`.
    const STYLE: &str = r"(?:\x1b\[[0-9;]*m)*";
    let pattern = format!(
        r#"(?i)((?:^|[^a-z0-9_]|\x1b\[[0-9;]*m)(?:phone|phone_number|from|to|wa_id|customer|customer_id|sender|sender_id|recipient|msisdn){STYLE}"?\s*{STYLE}[=:]{STYLE}\s*"?)(\+?[0-9][0-9 ()-]{{8,18}}[0-9])"#
    );
    Regex::new(&pattern).expect("the phone field pattern")
});
static PLUS_PHONE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\+[0-9][0-9 ()-]{8,18}[0-9]\b").expect("the international phone pattern"));

/// `jo***@x.com`: the first two characters of the local part kept.
fn mask_email(local: &str, domain: &str) -> String {
    let kept: String = local.chars().take(2).collect();
    format!("{kept}***@{domain}")
}

/// `***-***-4567`: the last four digits kept.
pub fn mask_phone(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    let last: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("***-***-{last}")
}

/// `text` with every e-mail address and phone number masked.
pub fn mask(text: &str) -> Cow<'_, str> {
    let text = EMAIL.replace_all(text, |c: &regex::Captures| mask_email(&c[1], &c[2]));
    let text = match PHONE_FIELD.replace_all(&text, |c: &regex::Captures| format!("{}{}", &c[1], mask_phone(&c[2]))) {
        Cow::Borrowed(_) => text,
        Cow::Owned(s) => Cow::Owned(s),
    };
    match PLUS_PHONE.replace_all(&text, |c: &regex::Captures| mask_phone(&c[0])) {
        Cow::Borrowed(_) => text,
        Cow::Owned(s) => Cow::Owned(s),
    }
}

/// A log writer that masks what it is given before writing it to `inner` (tracing writes one
/// event per call, so a value is never split across calls).
pub struct MaskingWriter<W: Write> {
    inner: W,
}

impl<W: Write> MaskingWriter<W> {
    /// Masks on the way to `inner`.
    pub fn new(inner: W) -> MaskingWriter<W> {
        MaskingWriter { inner }
    }
}

impl<W: Write> Write for MaskingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => self.inner.write_all(mask(text).as_bytes())?,
            Err(_) => self.inner.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::example_19_email(r#"{"email":"john@x.com"}"#, r#"{"email":"jo***@x.com"}"#)]
    #[case::example_19_phone("phone=5551234567", "phone=***-***-4567")]
    #[case::json_phone(r#"{"from":"919876543210"}"#, r#"{"from":"***-***-3210"}"#)]
    #[case::international("call +49 151 2345 6789 today", "call ***-***-6789 today")]
    #[case::customer_field("order accepted customer=919876543210 order_id=o-1", "order accepted customer=***-***-3210 order_id=o-1")]
    #[case::offsets_stay("offset=1764000000000 partition=3", "offset=1764000000000 partition=3")]
    #[case::times_stay("2026-12-03T12:00:00.123Z at_ms=1764763200123", "2026-12-03T12:00:00.123Z at_ms=1764763200123")]
    #[case::short_local_part("a@b.io wrote", "a***@b.io wrote")]
    #[case::colored_field("\x1b[3mcustomer\x1b[0m\x1b[2m=\x1b[0m919876543210", "\x1b[3mcustomer\x1b[0m\x1b[2m=\x1b[0m***-***-3210")]
    fn masks_personal_data_and_nothing_else(#[case] line: &str, #[case] masked: &str) {
        assert_eq!(mask(line), masked);
    }

    #[test]
    fn the_writer_masks_each_event() {
        let mut out = Vec::new();
        MaskingWriter::new(&mut out).write_all(b"INFO reply sent to=5551234567 by jane.doe@shop.example\n").unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "INFO reply sent to=***-***-4567 by ja***@shop.example\n");
    }
}
