//! The offline drafter (`social-offline-1`, rules IB5): a pure function from a customer message,
//! the conversation before it and the tenant's products as the availability table shows them, to
//! a draft and a confidence in [0, 1]. It answers what it can recognise with certainty and says
//! how sure it is, so the conversation's threshold decides whether a person looks first:
//!
//! | the message | draft | confidence |
//! |---|---|---|
//! | names a product (or the conversation named one) and asks after it | the a.6 template of its availability, alternatives of its category when it is out | 0.92 |
//! | a greeting alone | a greeting back | 0.90 |
//! | thanks alone | "You're welcome!" | 0.90 |
//! | asks whether something is available, nothing names a product we sell | asks which item, for a person to confirm | 0.65 |
//! | anything else | a holding answer | 0.40 |
//!
//! Customer-facing drafts never state a stock count (rules C4): the table it reads has none.

use rust_decimal::Decimal;
use souk_schemas::products::ProductAvailability;

/// The drafter's name and version, logged with every draft.
pub const DRAFTER: &str = "social-offline-1";

/// A draft and why it is as sure as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// The text to send.
    pub text: String,
    /// How sure the drafter is, in [0, 1] with at most 3 decimals.
    pub confidence: Decimal,
    /// Why (logged with the draft).
    pub reason: String,
}

pub(super) fn draft(text: &str, confidence: &str, reason: &str) -> Draft {
    Draft { text: text.to_string(), confidence: confidence.parse().expect("a literal confidence"), reason: reason.to_string() }
}

const GREETINGS: [&str; 8] = ["hi", "hello", "hey", "hiya", "good morning", "good afternoon", "good evening", "hola"];
const THANKS: [&str; 6] = ["thanks", "thank you", "thx", "ty", "thanks a lot", "thank you so much"];
const AVAILABILITY: [&str; 8] = ["do you have", "in stock", "available", "availability", "any left", "still have", "in size", "sold out"];

/// The words of `text`, lower case, punctuation and emoji dropped.
pub(super) fn normalise(text: &str) -> String {
    let lower = text.to_lowercase();
    lower.split(|c: char| !(c.is_alphanumeric() || c == '\'')).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Drafts the answer to `text`, with the customer's `earlier` messages (oldest first) and the
/// tenant's `products`.
pub fn draft_reply(text: &str, earlier: &[String], products: &[ProductAvailability]) -> Draft {
    let words = normalise(text);
    if words.is_empty() {
        return draft("Thanks for your message! We'll get back to you shortly.", "0.400", "no text to read (an attachment or an unsupported message)");
    }
    if GREETINGS.contains(&words.as_str()) {
        return draft("Hi! Thanks for reaching out — how can we help you today?", "0.900", "a greeting");
    }
    if THANKS.contains(&words.as_str()) {
        return draft("You're welcome! Let us know if there's anything else we can help with.", "0.900", "thanks");
    }
    let asks = AVAILABILITY.iter().any(|p| words.contains(p)) || text.contains('?');
    if asks {
        let named = named_product(&words, products).or_else(|| earlier.iter().rev().find_map(|e| named_product(&normalise(e), products)));
        if let Some(product) = named {
            return super::availability::answer(product, &words, products);
        }
    }
    if AVAILABILITY.iter().any(|p| words.contains(p)) {
        return draft(
            "Thanks for asking! Let me check that item for you — could you tell me which product you mean?",
            "0.650",
            "an availability question about an item the conversation does not name",
        );
    }
    draft("Thanks for your message! We'll get back to you shortly.", "0.400", "nothing the offline drafter recognises")
}

/// The product whose name the words contain (every word of it, as whole words), the longest name
/// first, active products only.
fn named_product<'p>(words: &str, products: &'p [ProductAvailability]) -> Option<&'p ProductAvailability> {
    let have: Vec<&str> = words.split(' ').collect();
    products
        .iter()
        .filter(|p| p.active)
        .filter_map(|p| {
            let name = normalise(&p.name);
            let name_words: Vec<&str> = name.split(' ').filter(|w| !w.is_empty()).collect();
            // A name is named in the plural too ("linen shirts").
            let named = |w: &&str| have.iter().any(|h| h == w || h.strip_suffix('s').is_some_and(|s| s == *w || s.strip_suffix('e') == Some(*w)));
            (!name_words.is_empty() && name_words.iter().all(named)).then_some((name_words.len(), p))
        })
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.product_id.cmp(&a.1.product_id)))
        .map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("Hi!", "0.900")]
    #[case("hello 👋", "0.900")]
    #[case("Thank you", "0.900")]
    #[case("Do you have this in size M?", "0.650")]
    #[case("Is the blue one still available?", "0.650")]
    #[case("My parcel never arrived and I am upset", "0.400")]
    #[case("", "0.400")]
    fn confidence_table(#[case] text: &str, #[case] confidence: &str) {
        let d = draft_reply(text, &[], &[]);
        assert_eq!(d.confidence, confidence.parse::<Decimal>().unwrap(), "{text}: {}", d.reason);
        assert!(!d.text.chars().any(|c| c.is_ascii_digit()), "no counts in a customer-facing draft: {}", d.text);
        assert_eq!(d, draft_reply(text, &[], &[]), "deterministic");
    }
}
