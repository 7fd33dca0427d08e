//! A standing intent's state (key `<tenant>|<intent id>`): the request, where it stands, what it
//! knows about the subjects it watches, and its ledger's step counter.

use super::conditions::{self, KINDS};
use super::DAY_MS;
use serde::{Deserialize, Serialize};
use souk_schemas::intents::{ConditionCheck, ObservationRecorded, StandingIntentRequested};
use std::collections::BTreeMap;

/// Where a standing intent stands (rules SI1; `pending` lasts no time: the request is scouted and
/// activated in the same step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for its conditions.
    Active,
    /// Every condition held; the user is asked.
    WaitingApproval,
    /// Its bundle is placed.
    Executing,
    /// The order is placed. Final.
    Completed,
    /// Cancelled by the user, a rejection, an approval timeout or the longest wait. Final.
    Cancelled,
}

impl Status {
    /// The logged name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::WaitingApproval => "waiting_approval",
            Status::Executing => "executing",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
        }
    }

    /// No further input changes it.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Completed | Status::Cancelled)
    }
}

/// One standing intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// As requested.
    pub request: StandingIntentRequested,
    /// Where it stands.
    pub status: Status,
    /// The latest observation per slot ([`conditions::slot`]).
    pub observations: BTreeMap<String, ObservationRecorded>,
    /// Per slot, the value before it last changed.
    pub previous: BTreeMap<String, String>,
    /// The waiting reason last narrated (JSON), so the user hears of a change once.
    pub last_waiting: Option<String>,
    /// The last ledger step.
    pub step: i64,
    /// The last judgement.
    pub checks: Vec<ConditionCheck>,
    /// Scheduled checks so far.
    pub checks_count: i64,
    /// Stream time of the last judgement.
    pub last_checked_at: i64,
    /// When the next scheduled check is due (on the grid of the first).
    pub next_check_at: i64,
    /// Stream time it was opened.
    pub created_at: i64,
    /// Stream time the longest wait ends.
    pub expires_at: i64,
    /// When the user's time to approve ends.
    pub approval_due_at: Option<i64>,
    /// The bundle it placed.
    pub bundle_id: Option<String>,
    /// Why it ended.
    pub reason: Option<String>,
}

impl Intent {
    /// Opened at stream time `now`.
    pub fn opened(request: StandingIntentRequested, now: i64) -> Intent {
        let expires_at = now + request.max_wait_days * DAY_MS;
        let next_check_at = now + request.check_frequency_minutes * 60_000;
        Intent {
            request,
            status: Status::Active,
            observations: BTreeMap::new(),
            previous: BTreeMap::new(),
            last_waiting: None,
            step: 0,
            checks: Vec::new(),
            checks_count: 0,
            last_checked_at: now,
            next_check_at,
            created_at: now,
            expires_at,
            approval_due_at: None,
            bundle_id: None,
            reason: None,
        }
    }

    /// The subjects its conditions watch, once each.
    pub fn subjects(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = Vec::new();
        for s in self.request.conditions.iter().filter_map(conditions::subject) {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    /// Keeps `o` if it is newer (source time, then id) than what the intent knew of its slot;
    /// `false` when it changes nothing.
    pub fn remember(&mut self, o: &ObservationRecorded) -> bool {
        let slot = conditions::slot(o);
        if let Some(known) = self.observations.get(&slot) {
            if (known.envelope.occurred_at, &known.observation_id) >= (o.envelope.occurred_at, &o.observation_id) {
                return false;
            }
            if !known.value.eq_ignore_ascii_case(&o.value) {
                self.previous.insert(slot.clone(), known.value.clone());
            }
        }
        self.observations.insert(slot, o.clone());
        true
    }

    /// The IF of its card.
    pub fn if_text(&self) -> String {
        conditions::if_text(&self.request.conditions)
    }

    /// The THEN of its card: "Order Flowers & Chocolates".
    pub fn then_text(&self) -> String {
        let names: Vec<String> = self.request.legs.iter().map(|l| conditions::title(&l.name)).collect();
        if names.is_empty() {
            "N/A".into()
        } else {
            format!("Order {}", names.join(" & "))
        }
    }

    /// What it buys, for people: "the flowers and the chocolates".
    pub fn items_text(&self) -> String {
        let names: Vec<String> = self.request.legs.iter().map(|l| format!("the {}", l.name.to_lowercase())).collect();
        match names.as_slice() {
            [] => "this item".into(),
            [one] => one.clone(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
        }
    }
}

/// The state of one key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentState {
    /// Once requested.
    pub intent: Option<Intent>,
}

/// Why a request cannot be a standing intent (the gateway checks the same first).
pub fn validate(r: &StandingIntentRequested) -> Result<(), String> {
    if r.conditions.is_empty() {
        return Err("a standing intent needs at least one condition".into());
    }
    for c in &r.conditions {
        if !KINDS.contains(&c.kind.as_str()) {
            return Err(format!("condition kind {:?} is none of {}", c.kind, KINDS.join(", ")));
        }
        let ok = match c.kind.as_str() {
            "weather" => c.location.as_deref().is_some_and(|l| !l.is_empty()) && !c.value.is_empty(),
            "day_of_week" => conditions::weekday(&c.value).is_some(),
            "time" => conditions::window(&c.value).is_some(),
            "price_below" => c.amount.is_some_and(|a| a >= rust_decimal::Decimal::ZERO) && !c.value.is_empty(),
            _ => !c.value.is_empty(),
        };
        if !ok {
            return Err(format!("condition {} {:?} is malformed", c.kind, c.value));
        }
    }
    if !["high", "medium", "low"].contains(&r.trust_level.as_str()) {
        return Err(format!("trust level {:?} is none of high, medium, low", r.trust_level));
    }
    let ranges = [("approval_timeout_hours", r.approval_timeout_hours, 1, 720), ("max_wait_days", r.max_wait_days, 1, 365), ("check_frequency_minutes", r.check_frequency_minutes, 1, 1440)];
    for (name, value, low, high) in ranges {
        if !(low..=high).contains(&value) {
            return Err(format!("{name} {value} is outside {low}..={high}"));
        }
    }
    if r.legs.is_empty() || r.legs.len() > crate::negotiation::bundle::MAX_LEGS {
        return Err(format!("a standing intent orders 1 to {} legs, not {}", crate::negotiation::bundle::MAX_LEGS, r.legs.len()));
    }
    Ok(())
}
