//! The observation join of standing intents (rules SI3): one keyed state machine per subject
//! (`<tenant>|weather|<place>`, `<tenant>|product|<id>`) holding the subject's latest
//! observations and the intents that watch it — the subscription pattern of a foreign-key join.
//!
//! An intent's `WatchChanged` and a connector's `ObservationRecorded` meet on the same key in one
//! order, so no observation slips between an intent's creation and its subscription: a new
//! watcher is sent what is known at once, and every later observation as it comes. An older
//! source update never replaces a newer one. Forecasts for dates more than two days past are
//! forgotten, so a subject's state stays bounded.

use crate::standing_intent::conditions::slot;
use serde::{Deserialize, Serialize};
use souk_runtime::{Ctx, Processor, Rejection};
use souk_schemas::intents::{ConditionObserved, ObservationInput, ObservationRecorded};
use souk_schemas::key::{IntentKey, SubjectKey};
use std::collections::{BTreeMap, BTreeSet};

/// The processor's name in topology.toml.
pub const NAME: &str = "intent-watch";
/// Forecasts for dates this many days before stream time are dropped.
pub const FORECAST_DAYS_KEPT: i64 = 2;

/// The join; stateless itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct IntentWatch;

/// One subject.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchState {
    /// Latest observation per slot.
    pub latest: BTreeMap<String, ObservationRecorded>,
    /// Intent ids watching.
    pub watchers: BTreeSet<String>,
}

/// What the join emits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WatchOutput {
    /// An observation for one watching intent → `intents` (`intents.inputs`).
    ConditionObserved(ConditionObserved),
}

souk_schemas::stream_event!(WatchOutput { ConditionObserved });

const KINDS: [&str; 3] = ["weather", "stock", "price"];

impl Processor for IntentWatch {
    type State = WatchState;
    type Input = ObservationInput;
    type Output = WatchOutput;

    fn name(&self) -> &'static str {
        NAME
    }

    fn handle(&self, state: &mut WatchState, event: &ObservationInput, ctx: &mut Ctx<WatchOutput>) -> Result<(), Rejection> {
        let key_text = ctx.key().to_string();
        let key = SubjectKey::parse(&key_text).map_err(|e| Rejection::new("BAD_KEY", e.to_string()))?;
        match event {
            ObservationInput::ObservationRecorded(o) => {
                if !KINDS.contains(&o.kind.as_str()) {
                    return Err(Rejection::new("BAD_OBSERVATION", format!("kind {:?} is none of {}", o.kind, KINDS.join(", "))));
                }
                if (key.tenant, key.kind, key.subject) != (o.envelope.tenant_id.as_str(), o.subject_kind(), o.subject.as_str()) {
                    return Err(Rejection::new("KEY_MISMATCH", format!("observation of {} {} for tenant {} under key {key_text:?}", o.kind, o.subject, o.envelope.tenant_id)));
                }
                if o.kind == "weather" && o.date.as_deref().and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()).is_none() {
                    return Err(Rejection::new("BAD_OBSERVATION", format!("a forecast needs its date as YYYY-MM-DD, not {:?}", o.date)));
                }
                forget_past_forecasts(state, ctx.now());
                let slot = slot(o);
                if state.latest.get(&slot).is_some_and(|known| (known.envelope.occurred_at, &known.observation_id) >= (o.envelope.occurred_at, &o.observation_id)) {
                    return Ok(());
                }
                state.latest.insert(slot, o.clone());
                for intent in state.watchers.clone() {
                    forward(ctx, &intent, o);
                }
            }
            ObservationInput::WatchChanged(w) => {
                if (key.tenant, key.kind, key.subject) != (w.envelope.tenant_id.as_str(), w.kind.as_str(), w.subject.as_str()) {
                    return Err(Rejection::new("KEY_MISMATCH", format!("watch of {} {} under key {key_text:?}", w.kind, w.subject)));
                }
                if !w.watching {
                    state.watchers.remove(&w.intent_id);
                } else if state.watchers.insert(w.intent_id.clone()) {
                    forget_past_forecasts(state, ctx.now());
                    for o in state.latest.values().cloned().collect::<Vec<_>>() {
                        forward(ctx, &w.intent_id, &o);
                    }
                }
            }
        }
        Ok(())
    }

    fn output_name(&self, _output: &WatchOutput) -> &'static str {
        "intents"
    }

    /// The join sets no timers.
    fn on_timer(&self, _state: &mut WatchState, _timer_id: &str, _ctx: &mut Ctx<WatchOutput>) {}
}

fn forward(ctx: &mut Ctx<WatchOutput>, intent_id: &str, o: &ObservationRecorded) {
    let observed = ConditionObserved { envelope: ctx.envelope(), intent_id: intent_id.to_string(), observation: o.clone() };
    ctx.emit(IntentKey::of(&o.envelope.tenant_id, intent_id), WatchOutput::ConditionObserved(observed));
}

fn forget_past_forecasts(state: &mut WatchState, now: i64) {
    let Some(today) = chrono::DateTime::from_timestamp_millis(now).map(|d| d.date_naive()) else { return };
    let oldest = today - chrono::Days::new(FORECAST_DAYS_KEPT as u64);
    state.latest.retain(|_, o| o.date.as_deref().and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()).is_none_or(|d| d >= oldest));
}

#[cfg(test)]
mod tests {
    use super::*;
    use souk_runtime::driver::TestDriver;
    use souk_schemas::intents::WatchChanged;
    use souk_schemas::Envelope;

    fn forecast(id: &str, date: &str, value: &str, at: i64) -> ObservationInput {
        ObservationInput::ObservationRecorded(ObservationRecorded {
            envelope: Envelope::external("t", id, at),
            observation_id: id.into(),
            kind: "weather".into(),
            subject: "ams".into(),
            date: Some(date.into()),
            value: value.into(),
            quantity: None,
            price: None,
            source: "test".into(),
        })
    }

    fn watch(intent: &str, watching: bool, at: i64) -> ObservationInput {
        ObservationInput::WatchChanged(WatchChanged {
            envelope: Envelope::external("t", &format!("{intent}/{watching}/{at}"), at),
            intent_id: intent.into(),
            kind: "weather".into(),
            subject: "ams".into(),
            watching,
        })
    }

    fn forwarded(d: &TestDriver<IntentWatch>) -> Vec<(String, String)> {
        d.outputs
            .iter()
            .map(|o| match &o.emitted.event {
                WatchOutput::ConditionObserved(c) => (c.intent_id.clone(), c.observation.value.clone()),
            })
            .collect()
    }

    #[test]
    fn a_new_watcher_gets_what_is_known_and_then_every_newer_observation() {
        let mut d = TestDriver::new(IntentWatch, 1);
        let key = SubjectKey::of("t", "weather", "ams");
        d.feed("observations", &key, forecast("o1", "2026-12-03", "rainy", 1_000));
        assert!(forwarded(&d).is_empty(), "nobody watches yet");
        d.feed("observations", &key, watch("i1", true, 2_000));
        d.feed("observations", &key, forecast("o2", "2026-12-03", "sunny", 3_000));
        d.feed("observations", &key, forecast("o0", "2026-12-03", "cloudy", 500));
        d.feed("observations", &key, watch("i1", false, 4_000));
        d.feed("observations", &key, forecast("o3", "2026-12-03", "hail", 5_000));
        assert_eq!(forwarded(&d), [("i1".to_string(), "rainy".to_string()), ("i1".into(), "sunny".into())], "an older update never replaces a newer one; an unwatched subject forwards nothing");
    }

    #[test]
    fn an_observation_under_another_subjects_key_is_refused() {
        let mut d = TestDriver::new(IntentWatch, 1);
        d.feed("observations", &SubjectKey::of("t", "weather", "rotterdam"), forecast("o1", "2026-12-03", "rainy", 1_000));
        assert_eq!(d.rejections[0].3.code, "KEY_MISMATCH");
    }
}
