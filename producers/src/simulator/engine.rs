//! How a simulated partner answers (seed-000 module 25, §6.2): pure — the same request, partner
//! and seed always give the same answer, so a test or a demo knows what the partner will say.
//!
//! A request is what a partner reads on WhatsApp: souk's message text and its buttons. Messages
//! without buttons only inform (a cancellation, a confirmation) and get no answer. The first
//! scenario whose trigger holds decides; otherwise the default answers: a product change is
//! accepted when the partner has the item in stock, an order when every item is available,
//! anything else "Unable to process request".

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What a simulated partner is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `product_change`, `order_request` or `other`.
    pub kind: String,
    /// The product it is about (the requested item of a change, the ordered item).
    pub product: String,
    /// The order's value, when the message names a price.
    pub value: Option<Decimal>,
    /// Hour of the day it arrives (0–23, UTC).
    pub hour: u32,
    /// Asked for an answer (the message has reply buttons).
    pub expects_answer: bool,
    /// Stable id of the message (its wamid), for seeded randomness.
    pub message_id: String,
    /// The partner has never answered this tenant before: a new user of the partner (the
    /// source's "if new user → acceptance"); the simulator knows it from its own log.
    pub first_contact: bool,
}

/// A trigger (seed-000 module 25): one condition, or all / any of several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// Always.
    Always,
    /// The product's name contains this (case-insensitive).
    ProductContains(String),
    /// The request is of this kind.
    RequestType(String),
    /// The order's value is above this.
    OrderValueOver(Decimal),
    /// It arrives at or after this hour (UTC).
    AfterHour(u32),
    /// The partner has never answered this tenant before.
    NewUser,
    /// Every one holds.
    All(Vec<Trigger>),
    /// At least one holds.
    Any(Vec<Trigger>),
}

impl Trigger {
    /// Whether it holds for `r`.
    pub fn holds(&self, r: &Request) -> bool {
        match self {
            Trigger::Always => true,
            Trigger::ProductContains(s) => r.product.to_lowercase().contains(&s.to_lowercase()),
            Trigger::RequestType(t) => r.kind == *t,
            Trigger::OrderValueOver(v) => r.value.is_some_and(|x| x > *v),
            Trigger::AfterHour(h) => r.hour >= *h,
            Trigger::NewUser => r.first_contact,
            Trigger::All(ts) => ts.iter().all(|t| t.holds(r)),
            Trigger::Any(ts) => ts.iter().any(|t| t.holds(r)),
        }
    }
}

/// What a scenario does (seed-000 §6.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Behaviour {
    /// "No" (or the configured message).
    Rejection { message: Option<String> },
    /// "Yes, I have {item} available!" (or the message).
    Acceptance { message: Option<String> },
    /// "I don't have that, but I have {alternatives[0]} available".
    CounterOffer { alternatives: Vec<String> },
    /// "I can do it for {percent}% more".
    PriceChange { percent: Decimal },
    /// Accept when the order's value is at most `threshold`, else reject.
    Conditional { threshold: Decimal },
    /// Accept `accept_percent` % of requests, deterministically by `seed` and the message.
    Random { accept_percent: u8, seed: u64 },
    /// The default answer, late (the delay is the scenario's).
    SlowResponse,
}

/// The longest a simulated partner waits before answering (a day).
pub const MAX_DELAY_SECONDS: u64 = 86_400;

/// A scenario: when, what, how late.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// When it applies.
    pub trigger: Trigger,
    /// What the partner does.
    pub behaviour: Behaviour,
    /// Seconds before the answer is sent.
    #[serde(default)]
    pub delay_seconds: u64,
}

/// One item a simulated partner has, with its stock (−1 unlimited, 0 out of stock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stock {
    /// The item's name.
    pub item: String,
    /// Units: −1 unlimited, 0 none.
    pub inventory_count: i64,
}

/// A simulated partner's behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// `automated` or `manual` (a human answers from the queue).
    pub manual: bool,
    /// Tried in order.
    pub scenarios: Vec<Scenario>,
    /// What it has.
    pub stock: Vec<Stock>,
}

/// The partner's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Reply `text` after `delay_seconds`; `scenario` names what decided (`default` otherwise).
    Reply { text: String, delay_seconds: u64, scenario: String },
    /// Put the request in the manual queue.
    Queue,
    /// Say nothing (an informational message).
    Silent,
}

fn in_stock(p: &Profile, item: &str) -> bool {
    p.stock.iter().any(|s| s.item.eq_ignore_ascii_case(item.trim()) && s.inventory_count != 0)
}

/// The default answers (seed-000 module 25).
fn default_answer(p: &Profile, r: &Request) -> String {
    match r.kind.as_str() {
        "product_change" if in_stock(p, &r.product) => format!("Yes, I have {} available", r.product),
        "product_change" => format!("Sorry, I don't have {} available", r.product),
        "order_request" if in_stock(p, &r.product) => "Order confirmed!".into(),
        "order_request" => "Some items are unavailable".into(),
        _ => "Unable to process request".into(),
    }
}

/// A stable number in 0..100 from a seed and a message id (FNV-1a; no randomness at run time).
pub fn roll(seed: u64, message_id: &str) -> u8 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in message_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % 100) as u8
}

/// How the partner answers `r`.
pub fn answer(p: &Profile, r: &Request) -> Answer {
    if !r.expects_answer {
        return Answer::Silent;
    }
    if p.manual {
        return Answer::Queue;
    }
    let Some((i, s)) = p.scenarios.iter().enumerate().find(|(_, s)| s.trigger.holds(r)) else {
        return Answer::Reply { text: default_answer(p, r), delay_seconds: 0, scenario: "default".into() };
    };
    let accept = || format!("Yes, I have {} available!", r.product);
    let text = match &s.behaviour {
        Behaviour::Rejection { message } => message.clone().unwrap_or_else(|| "No".into()),
        Behaviour::Acceptance { message } => message.clone().unwrap_or_else(accept),
        Behaviour::CounterOffer { alternatives } => match alternatives.first() {
            Some(alt) => format!("I don't have that, but I have {alt} available"),
            None => "No".into(),
        },
        Behaviour::PriceChange { percent } => format!("I can do it for {percent}% more"),
        Behaviour::Conditional { threshold } => match r.value {
            Some(v) if v > *threshold => "No, not for an order of that size".into(),
            _ => accept(),
        },
        Behaviour::Random { accept_percent, seed } => {
            if roll(*seed, &r.message_id) < *accept_percent {
                accept()
            } else {
                "No".into()
            }
        }
        Behaviour::SlowResponse => default_answer(p, r),
    };
    Answer::Reply { text, delay_seconds: s.delay_seconds, scenario: format!("scenario {}", i + 1) }
}

/// Reads souk's message to a partner: a product change ("… would like {requested} instead of …"),
/// an order ("new order: {item} at {price} {currency}"), or other.
pub fn read_request(text: &str, has_buttons: bool, hour: u32, message_id: &str) -> Request {
    let between = |start: &str, end: &str| text.split_once(start).and_then(|(_, rest)| rest.split_once(end)).map(|(v, _)| v.trim().to_string());
    let (kind, product, value) = if let Some(requested) = between("would like ", " instead of ") {
        ("product_change", requested, None)
    } else if let Some(order) = between("new order: ", ". Can you") {
        let (item, price) = order.rsplit_once(" at ").map(|(i, p)| (i.to_string(), p.split_whitespace().next().and_then(|v| v.parse::<Decimal>().ok()))).unwrap_or((order, None));
        ("order_request", item, price)
    } else {
        ("other", String::new(), None)
    };
    Request { kind: kind.into(), product, value, hour, expects_answer: has_buttons, message_id: message_id.into(), first_contact: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    fn profile(scenarios: Vec<Scenario>) -> Profile {
        Profile { manual: false, scenarios, stock: vec![Stock { item: "Red Flowers".into(), inventory_count: 10 }, Stock { item: "Pink Flowers".into(), inventory_count: 0 }] }
    }

    fn scenario(trigger: Trigger, behaviour: Behaviour) -> Scenario {
        Scenario { trigger, behaviour, delay_seconds: 0 }
    }

    fn change(product: &str) -> Request {
        read_request(&format!("Hello Flower Shop A, a customer would like {product} instead of Red Flowers for their order. Can you provide it?"), true, 10, "wamid.1")
    }

    fn text(a: Answer) -> String {
        match a {
            Answer::Reply { text, .. } => text,
            other => panic!("no reply: {other:?}"),
        }
    }

    #[test]
    fn souks_messages_are_read_as_requests() {
        let r = change("pink flowers");
        assert_eq!((r.kind.as_str(), r.product.as_str(), r.expects_answer), ("product_change", "pink flowers", true));
        let o = read_request("Hello Flower Shop B, new order: Pink Flowers at 55.00 USD. Can you confirm?", true, 10, "w");
        assert_eq!((o.kind.as_str(), o.product.as_str(), o.value), ("order_request", "Pink Flowers", Some(dec!(55.00))));
        let info = read_request("We are cancelling Red Flowers for this order: Partner unable to fulfill change request. Thank you.", false, 10, "w");
        assert_eq!(answer(&profile(vec![]), &info), Answer::Silent, "an informational message gets no answer");
    }

    /// seed-000 §6.2's catalogue: what each scenario says.
    #[rstest]
    #[case::live_demo_rejection(scenario(Trigger::ProductContains("pink".into()), Behaviour::Rejection { message: Some("No, we don't have pink flowers available".into()) }), "No, we don't have pink flowers available")]
    #[case::plain_no(scenario(Trigger::RequestType("product_change".into()), Behaviour::Rejection { message: None }), "No")]
    #[case::acceptance(scenario(Trigger::Always, Behaviour::Acceptance { message: None }), "Yes, I have pink flowers available!")]
    #[case::counter_offer(scenario(Trigger::Always, Behaviour::CounterOffer { alternatives: vec!["red roses".into()] }), "I don't have that, but I have red roses available")]
    #[case::price(scenario(Trigger::Always, Behaviour::PriceChange { percent: dec!(10) }), "I can do it for 10% more")]
    #[case::conditional_small(scenario(Trigger::Always, Behaviour::Conditional { threshold: dec!(100) }), "Yes, I have pink flowers available!")]
    #[case::trigger_misses(scenario(Trigger::ProductContains("limo".into()), Behaviour::Rejection { message: None }), "Sorry, I don't have pink flowers available")]
    #[case::all_of(scenario(Trigger::All(vec![Trigger::ProductContains("pink".into()), Trigger::AfterHour(17)]), Behaviour::Rejection { message: None }), "Sorry, I don't have pink flowers available")]
    #[case::any_of(scenario(Trigger::Any(vec![Trigger::ProductContains("pink".into()), Trigger::AfterHour(17)]), Behaviour::Rejection { message: None }), "No")]
    fn scenarios_answer(#[case] s: Scenario, #[case] expected: &str) {
        assert_eq!(text(answer(&profile(vec![s]), &change("pink flowers"))), expected);
    }

    /// The default answers without a scenario.
    #[rstest]
    #[case::in_stock(change("Red Flowers"), "Yes, I have Red Flowers available")]
    #[case::out_of_stock(change("Pink Flowers"), "Sorry, I don't have Pink Flowers available")]
    #[case::order_ok(read_request("new order: Red Flowers at 50.00 USD. Can you confirm?", true, 9, "w"), "Order confirmed!")]
    #[case::order_missing(read_request("new order: Tulips at 50.00 USD. Can you confirm?", true, 9, "w"), "Some items are unavailable")]
    #[case::other(read_request("Hi there?", true, 9, "w"), "Unable to process request")]
    fn default_answers(#[case] r: Request, #[case] expected: &str) {
        assert_eq!(text(answer(&profile(vec![]), &r)), expected);
    }

    /// "If new user → acceptance": only the partner's first request from a tenant; later ones get
    /// the default answer (pink is out of stock here).
    #[rstest]
    #[case::new_user(true, "Yes, I have pink flowers available!")]
    #[case::known_user(false, "Sorry, I don't have pink flowers available")]
    fn new_users_are_welcomed(#[case] first_contact: bool, #[case] expected: &str) {
        let p = profile(vec![scenario(Trigger::NewUser, Behaviour::Acceptance { message: None })]);
        assert_eq!(text(answer(&p, &Request { first_contact, ..change("pink flowers") })), expected);
        let parsed: Trigger = serde_json::from_value(serde_json::json!("new_user")).expect("the trigger's JSON");
        assert_eq!(parsed, Trigger::NewUser);
    }

    #[test]
    fn a_big_order_is_refused_by_the_conditional_scenario() {
        let p = profile(vec![scenario(Trigger::Always, Behaviour::Conditional { threshold: dec!(500) })]);
        let r = read_request("new order: Limo at 650.00 USD. Can you confirm?", true, 9, "w");
        assert_eq!(text(answer(&p, &r)), "No, not for an order of that size");
    }

    #[test]
    fn manual_partners_queue_and_slow_ones_wait() {
        let manual = Profile { manual: true, ..profile(vec![]) };
        assert_eq!(answer(&manual, &change("pink")), Answer::Queue);
        let slow = profile(vec![Scenario { trigger: Trigger::Always, behaviour: Behaviour::SlowResponse, delay_seconds: 1200 }]);
        assert!(matches!(answer(&slow, &change("Red Flowers")), Answer::Reply { delay_seconds: 1200, .. }));
    }

    proptest::proptest! {
        /// Seeded randomness is a function of seed and message: the same always answers the same,
        /// and about the configured share accepts.
        #[test]
        fn seeded_random_is_deterministic(seed in 0u64..1000) {
            let p = profile(vec![scenario(Trigger::Always, Behaviour::Random { accept_percent: 70, seed })]);
            let answers: Vec<String> = (0..200).map(|i| text(answer(&p, &Request { message_id: format!("wamid.{i}"), ..change("pink") }))).collect();
            let again: Vec<String> = (0..200).map(|i| text(answer(&p, &Request { message_id: format!("wamid.{i}"), ..change("pink") }))).collect();
            proptest::prop_assert_eq!(&answers, &again);
            let accepted = answers.iter().filter(|a| a.starts_with("Yes")).count();
            proptest::prop_assert!((100..=180).contains(&accepted), "{} of 200 accepted", accepted);
        }
    }
}
