//! The offline rule reader (`rules-offline-1`, rules BR1): a pure function from what the owner
//! wrote in the owner chat to the rule it states, in the shape of the source's
//! `create_business_rule` call (type, conditions, action, response template). It reads two kinds
//! of sentence and says plainly when it reads neither, so nothing is guessed:
//!
//! | the owner writes | the rule |
//! |---|---|
//! | "If someone orders more than 3 items, give them 10% off" (also "over", "at least", "3 or more", "3+") | `pricing`, `quantity gt 3`, `discount` 10 % |
//! | "If someone asks about shipping, say we ship within 2 days" (also "when", "tell them", "reply", "answer") | by topic (`shipping`, `returns`, `pricing`, `availability`, else `custom`), `message mentions shipping`, `answer` |

use rust_decimal::Decimal;
use souk_schemas::rules::RuleCondition;

/// The reader's name and version, logged with every rule it reads.
pub const PARSER: &str = "rules-offline-1";

/// A rule read from the owner's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRule {
    /// The source's rule type.
    pub rule_type: &'static str,
    /// A short name.
    pub name: String,
    /// One line saying what the rule does.
    pub description: String,
    /// When it applies (all of them).
    pub conditions: Vec<RuleCondition>,
    /// `discount` or `answer`.
    pub action: &'static str,
    /// The discount of a `discount` rule.
    pub discount_percent: Option<Decimal>,
    /// What the customer is told.
    pub response_template: String,
}

/// Why nothing was read: the owner sees this, with examples of what is understood.
pub const NOT_A_RULE: &str = "I couldn't find a rule in that. Try \"If someone orders more than 3 items, give them 10% off\" or \"If someone asks about shipping, say we ship within 2 days\".";

/// Reads the rule `text` states.
pub fn read_rule(text: &str) -> Result<ParsedRule, &'static str> {
    let lower = text.trim().to_lowercase();
    discount(&lower).or_else(|| answer(text.trim(), &lower)).ok_or(NOT_A_RULE)
}

const UNITS: [&str; 8] = ["items", "item", "pieces", "units", "products", "things", "pcs", "of"];

fn condition(field: &str, operator: &str, value: impl Into<String>) -> RuleCondition {
    RuleCondition { field: field.into(), operator: operator.into(), value: value.into() }
}

/// A whole number written with digits or as a word up to twenty (the reply stage reads a
/// customer's quantities with it too).
pub fn number(word: &str) -> Option<u32> {
    const WORDS: [&str; 21] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
    ];
    let w = word.trim_matches(|c: char| !c.is_alphanumeric());
    w.parse().ok().or_else(|| WORDS.iter().position(|n| *n == w).map(|n| n as u32))
}

fn words(lower: &str) -> Vec<String> {
    lower.replace(',', " , ").replace('+', " + ").split_whitespace().map(str::to_string).collect()
}

/// "… more than 3 items … 10% off": the quantity condition and the percentage.
fn discount(lower: &str) -> Option<ParsedRule> {
    let w = words(&lower.replace(" percent", "%").replace(" per cent", "%"));
    let percent = w.iter().enumerate().find_map(|(i, word)| {
        let p = word.strip_suffix('%').or_else(|| word.strip_suffix("%,"))?;
        let off = w.get(i + 1).is_some_and(|n| n.starts_with("off") || n.starts_with("discount")) || w.get(i.wrapping_sub(1)).is_some_and(|n| n == "of" || n == "a");
        (off || lower.contains("discount")).then(|| p.parse::<Decimal>().ok()).flatten()
    })?;
    if percent <= Decimal::ZERO || percent >= Decimal::ONE_HUNDRED {
        return None;
    }
    let unit_after = |i: usize| w.get(i).is_some_and(|u| UNITS.contains(&u.as_str()));
    let (operator, n) = (0..w.len()).find_map(|i| {
        let pair = (w[i].as_str(), w.get(i + 1).map(String::as_str));
        match pair {
            ("than", Some(n)) if i > 0 && w[i - 1] == "more" => number(n).map(|n| ("gt", n)),
            ("over" | "above", Some(n)) => number(n).filter(|_| unit_after(i + 2)).map(|n| ("gt", n)),
            ("least", Some(n)) if i > 0 && w[i - 1] == "at" => number(n).map(|n| ("gte", n)),
            (n, Some("or")) if w.get(i + 2).is_some_and(|m| m == "more") => number(n).map(|n| ("gte", n)),
            (n, Some("+")) => number(n).map(|n| ("gte", n)),
            _ => None,
        }
    })?;
    let percent = percent.normalize();
    let (said, told) = if operator == "gt" { (format!("more than {n} items"), format!("more than {n} items")) } else { (format!("{n} or more items"), format!("{n} or more items")) };
    Some(ParsedRule {
        rule_type: "pricing",
        name: format!("{percent}% off {said}"),
        description: format!("{percent}% discount for {said}"),
        conditions: vec![condition("quantity", operator, n.to_string())],
        action: "discount",
        discount_percent: Some(percent),
        response_template: format!("Good news: orders of {told} get {percent}% off!"),
    })
}

const ASKING: [&str; 6] = ["asks about ", "asks for ", "ask about ", "asks ", "ask ", "wants to know about "];
const SAYING: [&str; 8] = [", tell them ", ", say ", ", reply ", ", answer ", ", respond ", " tell them ", " say ", " reply "];

/// "If someone asks about X, say Y": an answer for messages that mention X.
fn answer(text: &str, lower: &str) -> Option<ParsedRule> {
    let rest = ["if ", "when ", "whenever "].iter().find_map(|p| lower.strip_prefix(p))?;
    let (asks_at, asks) = ASKING.iter().find_map(|a| rest.find(a).map(|at| (at, *a)))?;
    let topic_start = lower.len() - rest.len() + asks_at + asks.len();
    let (say_at, say) = SAYING.iter().filter_map(|s| lower[topic_start..].find(s).map(|at| (topic_start + at, *s))).min_by_key(|(at, _)| *at)?;
    let topic = lower[topic_start..say_at].trim().trim_start_matches("about").trim_start_matches("for").trim().trim_start_matches("the ").trim_end_matches(',').trim();
    // Lower case can move byte offsets (a few non-ASCII letters): then the reply is read lower-cased.
    let reply = text.get(say_at + say.len()..).unwrap_or(&lower[say_at + say.len()..]).trim().trim_start_matches("that ").trim_matches(|c| c == '"' || c == '\'' || c == '“' || c == '”').trim();
    if topic.is_empty() || topic.split_whitespace().count() > 4 || reply.is_empty() {
        return None;
    }
    let rule_type = topic_type(topic);
    let mut response: String = reply.to_string();
    if let Some(first) = response.chars().next() {
        response = first.to_uppercase().chain(response.chars().skip(1)).collect();
    }
    if !response.ends_with(['.', '!', '?']) {
        response.push('.');
    }
    Some(ParsedRule {
        rule_type,
        name: format!("Questions about {topic}"),
        description: format!("Answer questions about {topic}: \"{response}\""),
        conditions: vec![condition("message", "mentions", topic)],
        action: "answer",
        discount_percent: None,
        response_template: response,
    })
}

/// The source's rule type a topic belongs to.
fn topic_type(topic: &str) -> &'static str {
    let has = |words: &[&str]| words.iter().any(|w| topic.contains(w));
    if has(&["ship", "deliver", "postage", "courier"]) {
        "shipping"
    } else if has(&["return", "refund", "exchange"]) {
        "returns"
    } else if has(&["price", "discount", "cost", "sale"]) {
        "pricing"
    } else if has(&["stock", "available", "availability", "restock"]) {
        "availability"
    } else {
        "custom"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::example_1("If someone orders more than 3 items, give them 10% off", "gt", "3", "10", "10% discount for more than 3 items")]
    #[case::over("Anyone buying over 5 pieces gets 15% off", "gt", "5", "15", "15% discount for more than 5 items")]
    #[case::at_least("Give 5 percent off when they order at least two items", "gte", "2", "5", "5% discount for 2 or more items")]
    #[case::or_more("10 or more items: a 20% discount", "gte", "10", "20", "20% discount for 10 or more items")]
    #[case::plus("12.5% off for 6+ items", "gte", "6", "12.5", "12.5% discount for 6 or more items")]
    fn discounts(#[case] text: &str, #[case] operator: &str, #[case] n: &str, #[case] percent: &str, #[case] description: &str) {
        let rule = read_rule(text).unwrap();
        assert_eq!(rule.rule_type, "pricing");
        assert_eq!(rule.conditions, vec![condition("quantity", operator, n)]);
        assert_eq!(rule.discount_percent, Some(percent.parse().unwrap()));
        assert_eq!(rule.description, description);
        assert_eq!(rule.action, "discount");
    }

    #[rstest]
    #[case("If someone asks about shipping, say we ship within 2 days", "shipping", "shipping", "We ship within 2 days.")]
    #[case("When a customer asks about returns, tell them \"Returns are free for 30 days!\"", "returns", "returns", "Returns are free for 30 days!")]
    #[case("if anyone asks about gift wrapping reply that we wrap every order for free", "custom", "gift wrapping", "We wrap every order for free.")]
    fn answers(#[case] text: &str, #[case] rule_type: &str, #[case] topic: &str, #[case] response: &str) {
        let rule = read_rule(text).unwrap();
        assert_eq!((rule.rule_type, rule.action), (rule_type, "answer"));
        assert_eq!(rule.conditions, vec![condition("message", "mentions", topic)]);
        assert_eq!(rule.response_template, response);
    }

    #[rstest]
    #[case("We are closed on Sundays")]
    #[case("Give them 10% off")]
    #[case("If someone orders more than 3 items, give them 150% off")]
    #[case("If someone asks about, say hi")]
    #[case("")]
    fn not_rules(#[case] text: &str) {
        assert_eq!(read_rule(text), Err(NOT_A_RULE));
    }
}
