//! Judging a standing intent's conditions (rules SI2, B5): every condition at once, on stream time
//! in the user's time zone, against the latest observation of each subject the intent knows.
//! Pure: the same conditions, facts and time always give the same checks and waiting reason.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Weekday};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use souk_schemas::intents::{ConditionCheck, IntentCondition, ObservationRecorded};
use std::collections::BTreeMap;

/// The condition kinds souk knows.
pub const KINDS: [&str; 5] = ["weather", "day_of_week", "time", "in_stock", "price_below"];
/// Named time windows, local time, start inclusive, end exclusive (night wraps past midnight).
pub const WINDOWS: [(&str, &str, &str); 4] = [("morning", "06:00", "12:00"), ("afternoon", "12:00", "18:00"), ("evening", "18:00", "22:00"), ("night", "22:00", "06:00")];

/// What the intent knows about the world: the latest observation per slot, and the value a slot
/// had before it last changed (for "just changed to").
#[derive(Debug, Default, Clone, Copy)]
pub struct Facts<'a> {
    /// By [`slot`].
    pub latest: Option<&'a BTreeMap<String, ObservationRecorded>>,
    /// By [`slot`]: the previous, different value.
    pub previous: Option<&'a BTreeMap<String, String>>,
}

/// Where an observation is kept: a place's forecast per date, a product's stock, its price.
pub fn slot(o: &ObservationRecorded) -> String {
    match o.kind.as_str() {
        "weather" => format!("weather|{}|{}", o.subject, o.date.as_deref().unwrap_or("")),
        kind => format!("{kind}|{}", o.subject),
    }
}

/// The subject (`weather` or `product`, and which) a condition watches, if it watches one.
pub fn subject(c: &IntentCondition) -> Option<(&'static str, String)> {
    match c.kind.as_str() {
        "weather" => Some(("weather", c.location.clone().unwrap_or_default())),
        "in_stock" | "price_below" => Some(("product", c.value.clone())),
        _ => None,
    }
}

/// Why the intent still waits (module 14's `waiting_reason`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// The target day's forecast is not the wanted weather (or not in yet).
    Weather {
        /// The target day's name ("Thursday").
        day: String,
        /// The target date.
        date: NaiveDate,
        /// Its forecast, if any.
        current: Option<String>,
        /// The forecast before it last changed.
        previous: Option<String>,
        /// The wanted weather.
        target: String,
    },
    /// A product is out of stock (or its stock is not reported yet).
    Inventory {
        /// Its name.
        product: String,
    },
    /// A product's price is above the target (or not reported yet).
    Price {
        /// Its name.
        product: String,
        /// The latest price, if any.
        current: Option<Decimal>,
        /// At or below this it holds.
        target: Decimal,
    },
    /// Everything observed holds; the day or the hour has not come.
    Time {
        /// What it waits for ("Thursday afternoon").
        reason: String,
    },
}

impl Waiting {
    /// The reasoning context's `waiting_reason`, as the source logs it.
    pub fn context(&self) -> Value {
        match self {
            Waiting::Weather { day, current, previous, target, .. } => json!({
                "type": "condition", "condition": "weather", "day": day, "current_value": current.as_deref().map(title), "target_value": title(target),
                "previous_value": previous.as_deref().map(title),
            }),
            Waiting::Inventory { product } => json!({ "type": "condition", "condition": "inventory", "current_value": product }),
            Waiting::Price { product, current, target } => {
                json!({ "type": "condition", "condition": "price", "product": product, "current_value": current.map(|c| c.to_string()), "target_value": target.to_string() })
            }
            Waiting::Time { reason } => json!({ "type": "time", "reason": reason }),
        }
    }
}

/// The checks of one evaluation and, unless every condition holds, why it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// One per condition, in order.
    pub checks: Vec<ConditionCheck>,
    /// `None` when every condition holds.
    pub waiting: Option<Waiting>,
}

/// The local date and time at stream time `now_ms` for a user `offset_minutes` east of UTC.
pub fn local(now_ms: i64, offset_minutes: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp_millis(now_ms + offset_minutes * 60_000).map(|d| d.naive_utc()).unwrap_or_default()
}

/// A weekday by its English name, any case.
pub fn weekday(name: &str) -> Option<Weekday> {
    name.trim().parse::<Weekday>().ok()
}

/// A time window: a named one or `HH:MM-HH:MM`.
pub fn window(value: &str) -> Option<(NaiveTime, NaiveTime)> {
    let hm = |s: &str| NaiveTime::parse_from_str(s.trim(), "%H:%M").ok();
    let value = value.trim().to_lowercase();
    if let Some((_, start, end)) = WINDOWS.iter().find(|(name, ..)| *name == value) {
        return Some((hm(start)?, hm(end)?));
    }
    let (start, end) = value.split_once('-')?;
    let (start, end) = (hm(start)?, hm(end)?);
    (start != end).then_some((start, end))
}

fn in_window(t: NaiveTime, (start, end): (NaiveTime, NaiveTime)) -> bool {
    if start < end {
        start <= t && t < end
    } else {
        t >= start || t < end
    }
}

/// The day the intent is for: the next date (today included) that has the wanted weekday and
/// whose time window has not passed; today without a weekday condition.
pub fn target_date(conditions: &[IntentCondition], now: NaiveDateTime) -> NaiveDate {
    let today = now.date();
    let Some(day) = conditions.iter().find(|c| c.kind == "day_of_week").and_then(|c| weekday(&c.value)) else { return today };
    let ahead = (day.num_days_from_monday() as i64 - today.weekday().num_days_from_monday() as i64).rem_euclid(7);
    let passed = conditions.iter().filter(|c| c.kind == "time").filter_map(|c| window(&c.value)).any(|(start, end)| start < end && now.time() >= end);
    let ahead = if ahead == 0 && passed { 7 } else { ahead };
    today + chrono::Days::new(ahead as u64)
}

/// "sunny" → "Sunny", "day_of_week" → "Day Of Week".
pub fn title(text: &str) -> String {
    text.split(['_', ' ']).filter(|w| !w.is_empty()).map(|w| w[..1].to_uppercase() + &w[1..].to_lowercase()).collect::<Vec<_>>().join(" ")
}

/// The IF of the ledger card: "Weather == Sunny AND Day Of Week == Thursday".
pub fn if_text(conditions: &[IntentCondition]) -> String {
    let part = |c: &IntentCondition| match c.kind.as_str() {
        "in_stock" => format!("In Stock == {}", c.label.as_deref().unwrap_or(&c.value)),
        "price_below" => format!("Price Of {} <= {}", c.label.as_deref().unwrap_or(&c.value), c.amount.unwrap_or_default()),
        "time" => format!("Time == {}", title(&c.value)),
        _ => format!("{} == {}", title(&c.kind), title(&c.value)),
    };
    conditions.iter().map(part).collect::<Vec<_>>().join(" AND ")
}

/// Judges every condition at `now_ms`.
pub fn evaluate(conditions: &[IntentCondition], facts: Facts<'_>, now_ms: i64, offset_minutes: i64) -> Evaluation {
    let now = local(now_ms, offset_minutes);
    let target = target_date(conditions, now);
    let target_day = day_name(target.weekday()).to_string();
    let latest = |slot: &str| facts.latest.and_then(|l| l.get(slot));
    let mut checks = Vec::with_capacity(conditions.len());
    let (mut reasons, mut timing) = (Vec::new(), false);
    for c in conditions {
        let (met, observed, reason) = match c.kind.as_str() {
            "weather" => {
                let key = format!("weather|{}|{}", c.location.as_deref().unwrap_or(""), target.format("%Y-%m-%d"));
                let forecast = latest(&key).map(|o| o.value.clone());
                let wanted = forecast.as_deref().is_some_and(|f| f.eq_ignore_ascii_case(c.value.trim()));
                let previous = facts.previous.and_then(|p| p.get(&key)).cloned();
                let reason = (!wanted).then(|| Waiting::Weather { day: target_day.clone(), date: target, current: forecast.clone(), previous, target: c.value.clone() });
                timing |= wanted && target != now.date();
                (wanted && target == now.date(), forecast, reason)
            }
            "day_of_week" => {
                let met = weekday(&c.value) == Some(now.date().weekday());
                timing |= !met;
                (met, Some(day_name(now.date().weekday()).to_string()), None)
            }
            "time" => {
                let met = window(&c.value).is_some_and(|w| in_window(now.time(), w));
                timing |= !met;
                (met, Some(now.time().format("%H:%M").to_string()), None)
            }
            "in_stock" => {
                let stock = latest(&format!("stock|{}", c.value));
                let met = stock.is_some_and(|o| o.quantity.map_or(o.value == "in_stock", |q| q > 0));
                let observed = stock.map(|o| o.quantity.map_or(o.value.clone(), |q| q.to_string()));
                (met, observed, (!met).then(|| Waiting::Inventory { product: product_name(c) }))
            }
            "price_below" => {
                let price = latest(&format!("price|{}", c.value)).and_then(|o| o.price);
                let target_price = c.amount.unwrap_or_default();
                let met = price.is_some_and(|p| p <= target_price);
                (met, price.map(|p| p.to_string()), (!met).then(|| Waiting::Price { product: product_name(c), current: price, target: target_price }))
            }
            _ => (false, None, None),
        };
        reasons.extend(reason);
        checks.push(ConditionCheck { kind: c.kind.clone(), value: c.value.clone(), met, observed });
    }
    let all_met = checks.iter().all(|c| c.met);
    let waiting = if all_met {
        None
    } else {
        reasons.into_iter().next().or_else(|| timing.then(|| Waiting::Time { reason: time_reason(conditions, &target_day) })).or(Some(Waiting::Time { reason: "optimizing schedule".into() }))
    };
    Evaluation { checks, waiting }
}

fn product_name(c: &IntentCondition) -> String {
    c.label.clone().unwrap_or_else(|| c.value.clone())
}

/// The weekday's English name ("Thursday").
fn day_name(day: Weekday) -> &'static str {
    ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"][day.num_days_from_monday() as usize]
}

/// "Thursday afternoon", "Thursday", "the afternoon window".
fn time_reason(conditions: &[IntentCondition], day: &str) -> String {
    let has_day = conditions.iter().any(|c| c.kind == "day_of_week");
    let window = conditions.iter().find(|c| c.kind == "time").map(|c| c.value.trim().to_lowercase());
    match (has_day, window) {
        (true, Some(w)) => format!("{day} {w}"),
        (true, None) => day.to_string(),
        (false, Some(w)) => format!("the {w} window"),
        (false, None) => "optimizing schedule".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use souk_schemas::Envelope;

    fn cond(kind: &str, value: &str) -> IntentCondition {
        IntentCondition { kind: kind.into(), value: value.into(), location: (kind == "weather").then(|| "amsterdam".into()), amount: None, label: None }
    }

    fn forecast(date: &str, value: &str) -> ObservationRecorded {
        ObservationRecorded {
            envelope: Envelope::external("t", date, 0),
            observation_id: date.into(),
            kind: "weather".into(),
            subject: "amsterdam".into(),
            date: Some(date.into()),
            value: value.into(),
            quantity: None,
            price: None,
            source: "test".into(),
        }
    }

    /// 2026-12-01 is a Tuesday; 2026-12-03 a Thursday.
    fn at(date_time: &str) -> i64 {
        NaiveDateTime::parse_from_str(date_time, "%Y-%m-%d %H:%M").unwrap().and_utc().timestamp_millis()
    }

    #[rstest]
    #[case("2026-12-01 09:00", &[], "2026-12-03")]
    #[case("2026-12-03 09:00", &[], "2026-12-03")]
    #[case("2026-12-03 09:00", &["afternoon"], "2026-12-03")]
    #[case("2026-12-03 18:00", &["afternoon"], "2026-12-10")]
    #[case("2026-12-03 23:00", &["night"], "2026-12-03")]
    #[case("2026-12-04 00:00", &[], "2026-12-10")]
    fn the_target_day_is_the_next_thursday_whose_window_has_not_passed(#[case] now: &str, #[case] windows: &[&str], #[case] expected: &str) {
        let mut conditions = vec![cond("day_of_week", "thursday")];
        conditions.extend(windows.iter().map(|w| cond("time", w)));
        assert_eq!(target_date(&conditions, local(at(now), 0)).to_string(), expected);
    }

    #[rstest]
    #[case("afternoon", "12:00", true)]
    #[case("afternoon", "17:59", true)]
    #[case("afternoon", "18:00", false)]
    #[case("night", "23:30", true)]
    #[case("night", "05:59", true)]
    #[case("night", "06:00", false)]
    #[case("09:30-11:00", "10:00", true)]
    #[case("09:30-11:00", "11:00", false)]
    fn time_windows_include_their_start_and_exclude_their_end(#[case] value: &str, #[case] t: &str, #[case] inside: bool) {
        assert_eq!(in_window(NaiveTime::parse_from_str(t, "%H:%M").unwrap(), window(value).unwrap()), inside);
    }

    #[test]
    fn the_card_reads_the_conditions_joined_by_and() {
        assert_eq!(if_text(&[cond("weather", "sunny"), cond("day_of_week", "thursday")]), "Weather == Sunny AND Day Of Week == Thursday");
    }

    fn judge(now: &str, latest: &BTreeMap<String, ObservationRecorded>) -> Evaluation {
        let conditions = [cond("weather", "sunny"), cond("day_of_week", "thursday")];
        evaluate(&conditions, Facts { latest: Some(latest), previous: None }, at(now), 0)
    }

    #[test]
    fn sunny_thursday_holds_only_on_a_thursday_forecast_sunny() {
        let mut latest = BTreeMap::new();
        let rainy = forecast("2026-12-03", "rainy");
        latest.insert(slot(&rainy), rainy);
        let waiting = judge("2026-12-01 09:00", &latest).waiting.unwrap();
        assert!(matches!(&waiting, Waiting::Weather { day, current: Some(c), .. } if day == "Thursday" && c == "rainy"), "{waiting:?}");
        let sunny = forecast("2026-12-03", "Sunny");
        latest.insert(slot(&sunny), sunny);
        assert_eq!(judge("2026-12-01 09:00", &latest).waiting, Some(Waiting::Time { reason: "Thursday".into() }), "sunny, but not Thursday yet");
        assert_eq!(judge("2026-12-03 00:00", &latest).waiting, None, "Thursday, forecast sunny: every condition holds");
        let next_week = judge("2026-12-04 09:00", &latest).waiting.unwrap();
        assert!(matches!(&next_week, Waiting::Weather { current: None, date, .. } if date.to_string() == "2026-12-10"), "after Thursday the next one counts: {next_week:?}");
    }

    #[rstest]
    #[case(Some(3), "in_stock", true)]
    #[case(Some(0), "out_of_stock", false)]
    #[case(None, "in_stock", true)]
    #[case(None, "out_of_stock", false)]
    fn stock_holds_with_units_available(#[case] quantity: Option<i64>, #[case] value: &str, #[case] met: bool) {
        let o = ObservationRecorded { kind: "stock".into(), subject: "choc".into(), date: None, value: value.into(), quantity, ..forecast("x", "") };
        let latest = BTreeMap::from([(slot(&o), o)]);
        let c = IntentCondition { label: Some("the custom chocolates".into()), ..cond("in_stock", "choc") };
        let e = evaluate(&[c], Facts { latest: Some(&latest), previous: None }, at("2026-12-01 09:00"), 0);
        assert_eq!(e.checks[0].met, met);
        assert_eq!(e.waiting.is_none(), met);
    }

    #[rstest]
    #[case("40.00", true)]
    #[case("39.99", true)]
    #[case("40.01", false)]
    fn a_price_holds_at_or_below_its_target(#[case] price: &str, #[case] met: bool) {
        let o = ObservationRecorded { kind: "price".into(), subject: "choc".into(), date: None, value: "USD".into(), price: Some(price.parse().unwrap()), ..forecast("x", "") };
        let latest = BTreeMap::from([(slot(&o), o)]);
        let c = IntentCondition { amount: Some("40.00".parse().unwrap()), ..cond("price_below", "choc") };
        assert_eq!(evaluate(&[c], Facts { latest: Some(&latest), previous: None }, at("2026-12-01 09:00"), 0).checks[0].met, met);
    }

    #[test]
    fn the_users_time_zone_decides_the_day() {
        // Wednesday 23:30 UTC is already Thursday 00:30 an hour east.
        let conditions = [cond("day_of_week", "thursday")];
        assert!(!evaluate(&conditions, Facts::default(), at("2026-12-02 23:30"), 0).checks[0].met);
        assert!(evaluate(&conditions, Facts::default(), at("2026-12-02 23:30"), 60).checks[0].met);
    }
}
