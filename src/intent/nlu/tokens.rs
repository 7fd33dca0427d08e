//! Splits a WhatsApp message into lowercase tokens that remember where they came from, so a line's
//! `source_text` is the customer's own words. Numbers glued to units ("20m", "2.5gaj") are split,
//! ordinals ("2nd") recognised, connector symbols (A10: `,` `&` `+`) and sentence ends kept.

use rust_decimal::Decimal;
use std::str::FromStr;

/// What a token is, before any vocabulary is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawKind {
    /// Letters (or a number-free word).
    Word,
    /// A non-negative number.
    Number(Decimal),
    /// "1st", "2nd": a line number.
    Ordinal(i32),
    /// `,` `&` `+` `;` `.` `!` `?` or a line break: a clause boundary.
    Connector,
    /// `#`, as in "#2".
    Hash,
}

/// One token with its byte span in the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawToken {
    /// Lowercased text (empty for symbols).
    pub text: String,
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset just past the last character.
    pub end: usize,
    /// The token's kind.
    pub kind: RawKind,
}

/// Tokenizes `text`; deterministic and allocation-light.
pub(crate) fn tokenize(text: &str) -> Vec<RawToken> {
    let mut out = Vec::new();
    let mut run: Option<usize> = None;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (i, &(at, c)) in chars.iter().enumerate() {
        let next = chars.get(i + 1).map(|&(_, n)| n);
        let prev = i.checked_sub(1).map(|p| chars[p].1);
        let in_number = c == '.' && prev.is_some_and(|p| p.is_ascii_digit()) && next.is_some_and(|n| n.is_ascii_digit());
        if c.is_alphanumeric() || in_number || c == '\'' || c == '\u{2019}' {
            run.get_or_insert(at);
            continue;
        }
        if let Some(start) = run.take() {
            push_run(&mut out, text, start, at);
        }
        let symbol = |kind: RawKind| RawToken { text: String::new(), start: at, end: at + c.len_utf8(), kind };
        match c {
            ',' | '&' | '+' | ';' | '!' | '?' | '\n' => out.push(symbol(RawKind::Connector)),
            '.' if out.last().is_none_or(|t: &RawToken| t.text != "no") => out.push(symbol(RawKind::Connector)),
            '#' => out.push(symbol(RawKind::Hash)),
            '\u{1F44D}' | '\u{1F44C}' | '\u{2705}' => out.push(RawToken { text: "ok".into(), start: at, end: at + c.len_utf8(), kind: RawKind::Word }),
            _ => {}
        }
    }
    if let Some(start) = run {
        push_run(&mut out, text, start, text.len());
    }
    out
}

/// Splits an alphanumeric run at digit/letter boundaries ("20mtr" → "20", "mtr").
fn push_run(out: &mut Vec<RawToken>, text: &str, start: usize, end: usize) {
    let run = &text[start..end];
    if let Some(n) = ordinal(run) {
        out.push(RawToken { text: run.to_lowercase(), start, end, kind: RawKind::Ordinal(n) });
        return;
    }
    let mut piece_start = start;
    let mut piece_digit: Option<bool> = None;
    for (off, c) in run.char_indices() {
        let digit = c.is_ascii_digit() || c == '.';
        let is_quote = c == '\'' || c == '\u{2019}';
        if is_quote {
            continue;
        }
        match piece_digit {
            Some(d) if d != digit => {
                push_piece(out, text, piece_start, start + off);
                piece_start = start + off;
                piece_digit = Some(digit);
            }
            None => piece_digit = Some(digit),
            _ => {}
        }
    }
    push_piece(out, text, piece_start, end);
}

fn push_piece(out: &mut Vec<RawToken>, text: &str, start: usize, end: usize) {
    let raw = &text[start..end];
    let cleaned: String = raw.chars().filter(|c| *c != '\'' && *c != '\u{2019}').flat_map(char::to_lowercase).collect();
    if cleaned.is_empty() {
        return;
    }
    let kind = match Decimal::from_str(&cleaned) {
        Ok(n) if cleaned.starts_with(|c: char| c.is_ascii_digit()) => RawKind::Number(n),
        _ => RawKind::Word,
    };
    out.push(RawToken { text: cleaned, start, end, kind });
}

/// "1st", "2nd", "3rd", "4th" → the number.
fn ordinal(run: &str) -> Option<i32> {
    let lower = run.to_ascii_lowercase();
    let digits = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &lower[digits.len()..];
    if digits.is_empty() || !matches!(suffix, "st" | "nd" | "rd" | "th") {
        return None;
    }
    digits.parse().ok().filter(|n: &i32| (1..=99).contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<String> {
        tokenize(s)
            .into_iter()
            .map(|t| match t.kind {
                RawKind::Connector => "|".into(),
                RawKind::Hash => "#".into(),
                RawKind::Ordinal(n) => format!("ord{n}"),
                _ => t.text,
            })
            .collect()
    }

    #[test]
    fn numbers_units_and_connectors_split() {
        assert_eq!(texts("20m Blue cotton, 2.5gaj+3 yd"), ["20", "m", "blue", "cotton", "|", "2.5", "gaj", "|", "3", "yd"]);
        assert_eq!(texts("don't want the 2nd item no. 2 #3"), ["dont", "want", "the", "ord2", "item", "no", "2", "#", "3"]);
        assert_eq!(texts("off-white 👍"), ["off", "white", "ok"]);
    }

    #[test]
    fn spans_point_into_the_original_text() {
        let text = "Need 10M Silk";
        let toks = tokenize(text);
        assert_eq!(&text[toks[1].start..toks[2].end], "10M");
        assert_eq!(&text[toks[3].start..toks[3].end], "Silk");
    }
}
