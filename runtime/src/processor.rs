//! The processor API: a keyed state machine is a pure function of (state, event) that emits outputs
//! and timer requests through a [`Ctx`]. No I/O, no wall clock, no randomness: time is the stream
//! time carried by events, ids are derived from the causing event's id.

use serde::{de::DeserializeOwned, Serialize};
use souk_schemas::{Envelope, StreamEvent};
use std::collections::BTreeMap;
use std::fmt::Debug;

/// A keyed state machine. One instance serves every key; the runtime owns the per-key state.
pub trait Processor: Send + Sync + 'static {
    /// Per-key state; `Default` is the state of a key never seen.
    type State: Serialize + DeserializeOwned + Default + Clone + PartialEq + Debug + Send + Sync;
    /// The union of events on the processor's input topics.
    type Input: DeserializeOwned + Serialize + StreamEvent + Clone + Debug + Send + Sync;
    /// The union of events it emits (may span several output topics, see [`Processor::output_name`]).
    type Output: Serialize + DeserializeOwned + StreamEvent + Clone + Debug + PartialEq + Send + Sync;

    /// The processor's name in topology.toml.
    fn name(&self) -> &'static str;

    /// Applies one keyed event. An `Err` rejects the input: state and outputs of this call are
    /// discarded and the record goes to the dead-letter topic with the reason.
    fn handle(&self, state: &mut Self::State, event: &Self::Input, ctx: &mut Ctx<Self::Output>) -> Result<(), Rejection>;

    /// A timer scheduled through [`Ctx::schedule`] for this key came due (stream time passed it).
    fn on_timer(&self, state: &mut Self::State, timer_id: &str, ctx: &mut Ctx<Self::Output>);

    /// The logical output (a key of `outputs` in topology.toml) an emitted event goes to.
    fn output_name(&self, _output: &Self::Output) -> &'static str {
        "events"
    }
}

/// Why an input was refused (it goes to the dead-letter topic; nothing else changes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Rejection {
    /// Stable machine-readable code, e.g. `NEGATIVE_METERS`.
    pub code: String,
    /// Human-readable explanation.
    pub detail: String,
}

impl Rejection {
    /// A rejection with a code and a detail.
    pub fn new(code: impl Into<String>, detail: impl Into<String>) -> Rejection {
        Rejection { code: code.into(), detail: detail.into() }
    }
}

/// One output of a processor call: its key and event.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted<O> {
    /// Kafka key of the output (`<tenant>|<entity>`).
    pub key: String,
    /// The event; its envelope came from [`Ctx::envelope`].
    pub event: O,
    /// Logical output chosen with [`Ctx::emit_to`]; `None` = [`Processor::output_name`] decides.
    pub output: Option<&'static str>,
}

/// What a processor may do besides changing its state: emit outputs and set or cancel timers.
pub struct Ctx<'a, O> {
    key: &'a str,
    cause: &'a Envelope,
    scope: String,
    now: i64,
    output_time: i64,
    next_index: u32,
    timers: &'a mut BTreeMap<String, i64>,
    outputs: Vec<Emitted<O>>,
}

impl<'a, O> Ctx<'a, O> {
    /// Used by the runtime (and the test driver) to run one call.
    pub fn new(key: &'a str, cause: &'a Envelope, scope: String, now: i64, timers: &'a mut BTreeMap<String, i64>) -> Self {
        Ctx { key, cause, scope, now, output_time: now, next_index: 0, timers, outputs: Vec::new() }
    }

    /// The `occurred_at` of the envelopes this call hands out, when it is not the stream time: a
    /// timer's outputs carry its due time, so they do not depend on which record fired it.
    pub fn with_output_time(mut self, at: i64) -> Self {
        self.output_time = at;
        self
    }

    /// The key whose state is being handled.
    pub fn key(&self) -> &str {
        self.key
    }

    /// Stream time in epoch ms: the largest event time this partition has seen. In
    /// [`Processor::on_timer`] it is the stream time the timer fired at (at or after its due
    /// time); the runtime restores the clock so that a replay fires a timer at the same record.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// The envelope of the event that caused this call.
    pub fn cause(&self) -> &Envelope {
        self.cause
    }

    /// A fresh envelope for the next output: UUIDv5 of (cause, processor, key, index), so a re-run
    /// produces identical ids. For a timer the cause is the timer itself (key, id, due time).
    pub fn envelope(&mut self) -> Envelope {
        let mut env = self.cause.derive(&self.scope, self.next_index, self.output_time);
        self.next_index += 1;
        // Timer outputs are caused by a clock tick, which belongs to no tenant: the output belongs
        // to the tenant of the key it is emitted for (keys are `<tenant>|<entity>`).
        if env.tenant_id == souk_schemas::clock::ANY_TENANT {
            if let Some(tenant) = souk_schemas::key::tenant_of(self.key) {
                env.tenant_id = tenant.to_string();
            }
        }
        env
    }

    /// Emits an output event under `key`.
    pub fn emit(&mut self, key: impl Into<String>, event: O) {
        self.outputs.push(Emitted { key: key.into(), event, output: None });
    }

    /// Emits an output event under `key` to the logical output `output` (a key of `outputs` in
    /// topology.toml), for events whose topic depends on more than their type — e.g. a saga
    /// participant answering both on its own topic and on the requester's (`replies`).
    pub fn emit_to(&mut self, output: &'static str, key: impl Into<String>, event: O) {
        self.outputs.push(Emitted { key: key.into(), event, output: Some(output) });
    }

    /// Schedules (or moves) the timer `id` of this key to fire once stream time reaches `fire_at`.
    pub fn schedule(&mut self, id: impl Into<String>, fire_at: i64) {
        self.timers.insert(id.into(), fire_at);
    }

    /// Cancels the timer `id` of this key, if set.
    pub fn cancel(&mut self, id: &str) {
        self.timers.remove(id);
    }

    /// The outputs emitted so far (runtime use).
    pub fn into_outputs(self) -> Vec<Emitted<O>> {
        self.outputs
    }
}
