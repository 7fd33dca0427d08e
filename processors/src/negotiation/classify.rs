//! How a partner's reply is read (rules B2, N3), offline and deterministic: the same text always
//! gets the same reading, and the reading is logged (`PartnerReplyClassified`, classifier
//! [`CLASSIFIER`]) so a replay never reads it again.
//!
//! Order: a reply button decides alone; then frustration ("already told you", shouting), so that
//! "I already told you no pink!" escalates instead of counting as a plain refusal; then a
//! counter-offer (an alternative item or a price named beside any refusal: "I don't have pink, but
//! I have red roses"); then a plain acceptance or refusal ("No, we don't have pink flowers" is a
//! refusal, never confusion); anything else is unclear.

use rust_decimal::Decimal;
use std::str::FromStr;

/// Version of this classifier, logged with every reading.
pub const CLASSIFIER: &str = "offline-1";

/// Reply button ids the partner message carries (Accept / Decline / Modify).
pub const ACCEPT_BUTTON: &str = "neg:accept";
/// See [`ACCEPT_BUTTON`].
pub const DECLINE_BUTTON: &str = "neg:decline";
/// See [`ACCEPT_BUTTON`].
pub const MODIFY_BUTTON: &str = "neg:modify";

/// What a partner's reply means for the negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// Yes, they can do it.
    Accept,
    /// No, they cannot.
    Reject,
    /// Not that, but something else (an item, a price, or both).
    CounterOffer {
        /// The alternative item named, as written.
        item: Option<String>,
        /// An absolute price named.
        price: Option<Decimal>,
        /// A relative change named, in percent (`10` for "10% more", `-5` for "5% less").
        change_percent: Option<Decimal>,
    },
    /// Frustration: a human must take over (rules N4).
    Frustrated,
    /// Nothing the machine can act on.
    Unclear,
}

impl Reading {
    /// The logged name.
    pub fn name(&self) -> &'static str {
        match self {
            Reading::Accept => "accept",
            Reading::Reject => "reject",
            Reading::CounterOffer { .. } => "counter_offer",
            Reading::Frustrated => "frustrated",
            Reading::Unclear => "unclear",
        }
    }
}

const FRUSTRATION: [&str; 6] = ["already told", "told you already", "i told you", "how many times", "stop asking", "stop messaging"];
const COUNTER_ITEM: [&str; 6] = ["but i have ", "but we have ", "i have ", "we have ", "how about ", "instead i can offer "];
const PRICE_WORDS: [&str; 4] = ["i can do it for ", "we can do it for ", "can do it for ", "it would be "];
const REFUSAL: [&str; 12] = ["don't have", "dont have", "do not have", "don't", "can't", "cannot", "can not", "unavailable", "not available", "sorry", "unable", "decline"];
const ACCEPTANCE: [&str; 10] = ["yes", "sure", "of course", "accept", "available", "confirmed", "no problem", "ok", "okay", "can do"];

/// Reads one reply: `button_id` (when the partner pressed one) or `text`.
pub fn classify(text: Option<&str>, button_id: Option<&str>) -> Reading {
    match button_id {
        Some(ACCEPT_BUTTON) => return Reading::Accept,
        Some(DECLINE_BUTTON) => return Reading::Reject,
        Some(MODIFY_BUTTON) => return counter_offer(text.unwrap_or("")).unwrap_or(Reading::CounterOffer { item: None, price: None, change_percent: None }),
        _ => {}
    }
    let Some(raw) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Reading::Unclear;
    };
    let lower = raw.to_lowercase();
    if FRUSTRATION.iter().any(|f| lower.contains(f)) || shouting(raw) {
        return Reading::Frustrated;
    }
    if let Some(offer) = counter_offer(raw) {
        return offer;
    }
    let refuses = starts_with_word(&lower, "no") || REFUSAL.iter().any(|r| lower.contains(r));
    if refuses {
        return Reading::Reject;
    }
    if ACCEPTANCE.iter().any(|a| has_word_phrase(&lower, a)) {
        return Reading::Accept;
    }
    Reading::Unclear
}

/// An alternative item or a price named in `text`, if any.
fn counter_offer(text: &str) -> Option<Reading> {
    let lower = text.to_lowercase();
    let change_percent = percent_change(&lower);
    let price = if change_percent.is_none() { PRICE_WORDS.iter().find_map(|w| lower.find(w).map(|i| i + w.len())).and_then(|at| amount(&lower[at..])) } else { None };
    // "I have X" only counts beside a refusal ("I don't have pink, but I have red roses"): a
    // plain "Yes, I have pink flowers available!" is an acceptance.
    let refuses = REFUSAL.iter().any(|r| lower.contains(r)) || starts_with_word(&lower, "no");
    let item = COUNTER_ITEM
        .iter()
        .filter(|w| refuses || w.starts_with("how about") || w.starts_with("instead"))
        .find_map(|w| lower.find(w).map(|i| i + w.len()))
        .map(|at| item_words(&text[at..]))
        .filter(|item| !item.is_empty() && !item.to_lowercase().starts_with("no "));
    (item.is_some() || price.is_some() || change_percent.is_some()).then_some(Reading::CounterOffer { item, price, change_percent })
}

/// "10% more" → 10, "5% less"/"5% off"/"5% cheaper" → −5.
fn percent_change(lower: &str) -> Option<Decimal> {
    let at = lower.find('%')?;
    let digits: String = lower[..at].chars().rev().take_while(|c| c.is_ascii_digit() || *c == '.').collect::<Vec<_>>().into_iter().rev().collect();
    let value = Decimal::from_str(&digits).ok()?;
    let after = &lower[at + 1..];
    let less = ["less", "off", "cheaper", "discount"].iter().any(|w| after.trim_start().starts_with(w));
    Some(if less { -value } else { value })
}

/// The first amount in `text` ("$60", "60.50", "60 dollars").
fn amount(text: &str) -> Option<Decimal> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let number: String = text[start..].chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    Decimal::from_str(number.trim_end_matches('.')).ok()
}

/// The item words: up to the first clause break, without a trailing "available" / "instead".
fn item_words(text: &str) -> String {
    let clause: String = text.chars().take_while(|c| !matches!(c, '.' | ',' | '!' | '?' | ';')).collect();
    let words: Vec<&str> = clause.split_whitespace().collect();
    let end = words.iter().position(|w| ["available", "instead", "today", "if", "for"].contains(&w.to_lowercase().as_str())).unwrap_or(words.len());
    words[..end].join(" ")
}

/// Two or more all-caps words of three letters or more, or "!!".
fn shouting(text: &str) -> bool {
    let loud = text.split_whitespace().filter(|w| {
        let letters: Vec<char> = w.chars().filter(|c| c.is_alphabetic()).collect();
        letters.len() >= 3 && letters.iter().all(|c| c.is_uppercase())
    });
    loud.count() >= 2 || text.contains("!!")
}

fn starts_with_word(lower: &str, word: &str) -> bool {
    lower.strip_prefix(word).is_some_and(|rest| rest.chars().next().is_none_or(|c| !c.is_alphanumeric()))
}

/// `phrase` as whole words in `lower` ("ok" does not match "book").
fn has_word_phrase(lower: &str, phrase: &str) -> bool {
    lower.match_indices(phrase).any(|(i, _)| {
        let before = lower[..i].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        let after = lower[i + phrase.len()..].chars().next().is_none_or(|c| !c.is_alphanumeric());
        before && after
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn offer(item: Option<&str>, price: Option<&str>, change: Option<&str>) -> Reading {
        Reading::CounterOffer { item: item.map(str::to_string), price: price.map(|p| p.parse().unwrap()), change_percent: change.map(|p| p.parse().unwrap()) }
    }

    #[rstest]
    #[case::demo_partner_a(Some("No, we don't have pink flowers available"), None, Reading::Reject)]
    #[case::short_no(Some("No, we don't have pink flowers"), None, Reading::Reject)]
    #[case::sorry(Some("Sorry, I don't have Pink Flowers available"), None, Reading::Reject)]
    #[case::demo_partner_b(Some("Yes, I have pink flowers available!"), None, Reading::Accept)]
    #[case::order_confirmed(Some("Order confirmed!"), None, Reading::Accept)]
    #[case::frustration(Some("I already told you no pink!"), None, Reading::Frustrated)]
    #[case::shouting(Some("NO PINK FLOWERS"), None, Reading::Frustrated)]
    #[case::counter_item(Some("I don't have pink, but I have red roses"), None, offer(Some("red roses"), None, None))]
    #[case::executor_text(Some("I don't have that, but I have Deep Purple Metallic available"), None, offer(Some("Deep Purple Metallic"), None, None))]
    #[case::price_up(Some("I can do it for 10% more"), None, offer(None, None, Some("10")))]
    #[case::price_down(Some("Can do 5% less"), None, offer(None, None, Some("-5")))]
    #[case::absolute_price(Some("We can do it for $60.50"), None, offer(None, Some("60.50"), None))]
    #[case::how_about(Some("How about white lilies?"), None, offer(Some("white lilies"), None, None))]
    #[case::button_accept(Some("whatever"), Some(ACCEPT_BUTTON), Reading::Accept)]
    #[case::button_decline(None, Some(DECLINE_BUTTON), Reading::Reject)]
    #[case::button_modify(None, Some(MODIFY_BUTTON), offer(None, None, None))]
    #[case::know_is_not_no(Some("let me know tomorrow"), None, Reading::Unclear)]
    #[case::empty(Some("   "), None, Reading::Unclear)]
    #[case::book_is_not_ok(Some("Let me check the book"), None, Reading::Unclear)]
    fn replies_read_in_the_order_of_b2(#[case] text: Option<&str>, #[case] button: Option<&str>, #[case] expected: Reading) {
        assert_eq!(classify(text, button), expected, "{text:?} / {button:?}");
    }

    proptest::proptest! {
        /// Reading is a pure function of the reply, and a button always decides alone.
        #[test]
        fn readings_are_deterministic_and_buttons_win(text in ".{0,60}") {
            proptest::prop_assert_eq!(classify(Some(&text), None), classify(Some(&text), None));
            proptest::prop_assert_eq!(classify(Some(&text), Some(ACCEPT_BUTTON)), Reading::Accept);
            proptest::prop_assert_eq!(classify(Some(&text), Some(DECLINE_BUTTON)), Reading::Reject);
        }
    }
}
