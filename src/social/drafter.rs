//! The offline drafter (`social-offline-1`, rules IB5): a pure function from a customer message
//! (and the conversation before it) to a draft and a confidence in [0, 1]. It answers what it can
//! recognise with certainty and says how sure it is, so the conversation's threshold decides
//! whether a person looks first:
//!
//! | the message | draft | confidence |
//! |---|---|---|
//! | a greeting alone | a greeting back | 0.90 |
//! | thanks alone | "You're welcome!" | 0.90 |
//! | asks whether something is available, the conversation names nothing we can check | asks which item, for a person to confirm | 0.65 |
//! | anything else | a holding answer | 0.40 |
//!
//! Customer-facing drafts never state a stock count (rules C4).

use rust_decimal::Decimal;

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

fn draft(text: &str, confidence: &str, reason: &str) -> Draft {
    Draft { text: text.to_string(), confidence: confidence.parse().expect("a literal confidence"), reason: reason.to_string() }
}

const GREETINGS: [&str; 8] = ["hi", "hello", "hey", "hiya", "good morning", "good afternoon", "good evening", "hola"];
const THANKS: [&str; 6] = ["thanks", "thank you", "thx", "ty", "thanks a lot", "thank you so much"];
const AVAILABILITY: [&str; 8] = ["do you have", "in stock", "available", "availability", "any left", "still have", "in size", "sold out"];

/// The words of `text`, lower case, punctuation and emoji dropped.
fn normalise(text: &str) -> String {
    let lower = text.to_lowercase();
    lower.split(|c: char| !(c.is_alphanumeric() || c == '\'')).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Drafts the answer to `text`.
pub fn draft_reply(text: &str) -> Draft {
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
    if AVAILABILITY.iter().any(|p| words.contains(p)) {
        return draft(
            "Thanks for asking! Let me check that item for you — could you tell me which product you mean?",
            "0.650",
            "an availability question about an item the conversation does not name",
        );
    }
    draft("Thanks for your message! We'll get back to you shortly.", "0.400", "nothing the offline drafter recognises")
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
        let d = draft_reply(text);
        assert_eq!(d.confidence, confidence.parse::<Decimal>().unwrap(), "{text}: {}", d.reason);
        assert!(!d.text.chars().any(|c| c.is_ascii_digit()), "no counts in a customer-facing draft: {}", d.text);
        assert_eq!(d, draft_reply(text), "deterministic");
    }
}
