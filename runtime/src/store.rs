//! The keyed state of one input partition and the deterministic step that applies one input record
//! to it. The Kafka engine and the broker-free test driver both run exactly this code, so a driver
//! run over a log equals what the engine computed from that log.

use crate::processor::{Ctx, Emitted, Processor, Rejection};
use serde::{Deserialize, Serialize};
use souk_schemas::{Envelope, StreamEvent};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// How many recently applied event ids each key remembers (dedup of upstream copies/redeliveries).
pub const RECENT_IDS_PER_KEY: usize = 256;

/// Changelog key of a partition's stream-time marker: written whenever a batch advanced stream time,
/// so a restart after batches that touched no key (ticks firing nothing) keeps the same clock.
pub const STREAM_TIME_KEY: &str = "\u{0}souk/stream-time";

/// One key's durable state: what the changelog stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyEntry<S> {
    /// The processor's state.
    pub state: S,
    /// Pending timers: id → fire_at (epoch ms).
    pub timers: BTreeMap<String, i64>,
    /// Per input topic, the last offset this key reflects; replays at or below it are skipped.
    pub applied_offsets: BTreeMap<String, i64>,
    /// Recently applied event ids, oldest first, bounded by [`RECENT_IDS_PER_KEY`].
    pub recent_event_ids: VecDeque<String>,
}

impl<S: Default> Default for KeyEntry<S> {
    fn default() -> Self {
        KeyEntry { state: S::default(), timers: BTreeMap::new(), applied_offsets: BTreeMap::new(), recent_event_ids: VecDeque::new() }
    }
}

/// One input record as the step sees it.
#[derive(Debug, Clone)]
pub struct InputRecord<'a, E> {
    /// Source topic.
    pub topic: &'a str,
    /// Source offset.
    pub offset: i64,
    /// Kafka key (`<tenant>|<entity>`); ignored for ticks.
    pub key: &'a str,
    /// The decoded event.
    pub event: &'a E,
}

/// What applying one record did.
#[derive(Debug)]
pub enum StepOutcome<O> {
    /// Applied (possibly after firing due timers); outputs in emission order.
    Applied(Vec<Emitted<O>>),
    /// A replay of something this key already reflects (offset or event id); only timers may have fired.
    Skipped { reason: SkipReason, timer_outputs: Vec<Emitted<O>> },
    /// The processor refused the input; it goes to the DLQ. Timers that came due still fired.
    Rejected { rejection: Rejection, timer_outputs: Vec<Emitted<O>> },
}

/// Why a record was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The key's applied offset for the topic is at or past this record (re-delivery after a crash).
    AlreadyAppliedOffset,
    /// The key recently applied an event with the same event_id (an upstream copy).
    DuplicateEventId,
}

/// Per input topic, the offset of the last record a partition's step has applied: where in the
/// log a changelog record was written. Every writer of a partition follows the same log with the
/// same deterministic step, so the record written at the higher position is the newer state.
pub type Position = BTreeMap<String, i64>;

/// True when position `a` is at or past `b` on every topic `b` has reached (a record written at
/// `a` reflects at least as much of the log as one written at `b`).
pub fn position_at_least(a: &Position, b: &Position) -> bool {
    b.iter().all(|(topic, offset)| a.get(topic).is_some_and(|o| o >= offset))
}

/// The state of every key of one input partition, plus its stream time, timer index and position.
#[derive(Debug, Clone)]
pub struct PartitionStore<S> {
    entries: HashMap<String, KeyEntry<S>>,
    stream_time: i64,
    timer_index: BTreeSet<(i64, String, String)>,
    touched: BTreeSet<String>,
    position: Position,
    /// During restore: the position each restored key's record was written at.
    restored_at: HashMap<String, Position>,
    /// During restore: the position of the stream-time marker taken so far.
    clock_at: Option<Position>,
    /// During a catch-up of a kept store: records written at or below this position are already
    /// reflected (the store's own writes, or older ones).
    floor: Option<Position>,
}

impl<S> Default for PartitionStore<S> {
    fn default() -> Self {
        PartitionStore {
            entries: HashMap::new(),
            stream_time: i64::MIN,
            timer_index: BTreeSet::new(),
            touched: BTreeSet::new(),
            position: Position::new(),
            restored_at: HashMap::new(),
            clock_at: None,
            floor: None,
        }
    }
}

impl<S: Clone + Default> PartitionStore<S> {
    /// Loads one key's changelog record written at `position` (restore). A record written at a
    /// lower position than the one already loaded is stale — a zombie writer's late write after
    /// the new owner's — and is ignored; returns whether the record was taken. Among equal
    /// positions the later record wins.
    pub fn restore(&mut self, key: String, entry: KeyEntry<S>, position: Position) -> bool {
        if self.floor.as_ref().is_some_and(|floor| position_at_least(floor, &position)) {
            return false;
        }
        if let Some(prev) = self.restored_at.get(&key) {
            if !position_at_least(&position, prev) {
                return false;
            }
        }
        if let Some(old) = self.entries.get(&key) {
            for (id, at) in &old.timers {
                self.timer_index.remove(&(*at, key.clone(), id.clone()));
            }
        }
        for (id, at) in &entry.timers {
            self.timer_index.insert((*at, key.clone(), id.clone()));
        }
        self.advance_position(&position);
        self.restored_at.insert(key.clone(), position);
        self.entries.insert(key, entry);
        true
    }

    /// Removes a key (a tombstone in the changelog).
    pub fn restore_tombstone(&mut self, key: &str) {
        if let Some(old) = self.entries.remove(key) {
            for (id, at) in &old.timers {
                self.timer_index.remove(&(*at, key.to_string(), id.clone()));
            }
        }
        self.restored_at.remove(key);
    }

    /// Restores the partition's stream time from a changelog marker (see [`STREAM_TIME_KEY`])
    /// written at `position`: the marker at the highest position wins, so the clock is the one
    /// of the last batch whose key records were all durable, never ahead of any key's state.
    pub fn restore_stream_time(&mut self, stream_time: i64, position: Position) {
        if self.floor.as_ref().is_some_and(|floor| position_at_least(floor, &position)) {
            return;
        }
        if self.clock_at.as_ref().is_some_and(|prev| !position_at_least(&position, prev)) {
            return;
        }
        self.stream_time = stream_time;
        self.advance_position(&position);
        self.clock_at = Some(position);
    }

    /// Starts catching a kept store up with its changelog: only records written beyond the
    /// store's current position (by another owner while this one did not hold the partition) are
    /// taken.
    pub fn begin_catch_up(&mut self) {
        self.floor = Some(self.position.clone());
    }

    /// Ends a restore or catch-up: forgets the per-record positions it compared.
    pub fn finish_restore(&mut self) {
        self.restored_at = HashMap::new();
        self.clock_at = None;
        self.floor = None;
    }

    fn advance_position(&mut self, position: &Position) {
        for (topic, offset) in position {
            let e = self.position.entry(topic.clone()).or_insert(*offset);
            *e = (*e).max(*offset);
        }
    }

    /// Where in the log this partition's state is: per input topic, the last offset applied.
    pub fn position(&self) -> &Position {
        &self.position
    }

    /// A key's entry, if the key was ever seen.
    pub fn get(&self, key: &str) -> Option<&KeyEntry<S>> {
        self.entries.get(key)
    }

    /// All keys with their entries (for tests and the bench's final comparison).
    pub fn entries(&self) -> &HashMap<String, KeyEntry<S>> {
        &self.entries
    }

    /// Stream time: the largest event time seen (i64::MIN before any).
    pub fn stream_time(&self) -> i64 {
        self.stream_time
    }

    /// Keys changed since the last call (what the changelog must persist), in key order.
    pub fn take_touched(&mut self) -> Vec<String> {
        std::mem::take(&mut self.touched).into_iter().collect()
    }

    /// Applies one record: advance stream time, fire due timers (caused by this record), then, for
    /// a keyed event not seen before, run the processor on it.
    pub fn apply<P>(&mut self, processor: &P, record: InputRecord<'_, P::Input>) -> StepOutcome<P::Output>
    where
        P: Processor<State = S>,
    {
        let envelope = record.event.envelope();
        self.stream_time = self.stream_time.max(envelope.occurred_at);
        let at = self.position.entry(record.topic.to_string()).or_insert(record.offset);
        *at = (*at).max(record.offset);
        let mut timer_outputs = self.fire_due_timers(processor);
        if record.event.is_tick() {
            return StepOutcome::Applied(timer_outputs);
        }
        let key = record.key;
        if let Some(entry) = self.entries.get(key) {
            if entry.applied_offsets.get(record.topic).is_some_and(|o| *o >= record.offset) {
                return StepOutcome::Skipped { reason: SkipReason::AlreadyAppliedOffset, timer_outputs };
            }
            if entry.recent_event_ids.iter().any(|id| *id == envelope.event_id) {
                return StepOutcome::Skipped { reason: SkipReason::DuplicateEventId, timer_outputs };
            }
        }
        let mut entry = self.entries.get(key).cloned().unwrap_or_default();
        let old_timers = entry.timers.clone();
        let scope = format!("{}/{key}", processor.name());
        let mut ctx = Ctx::new(key, envelope, scope, self.stream_time, &mut entry.timers);
        if let Err(rejection) = processor.handle(&mut entry.state, record.event, &mut ctx) {
            return StepOutcome::Rejected { rejection, timer_outputs };
        }
        let outputs = ctx.into_outputs();
        entry.applied_offsets.insert(record.topic.to_string(), record.offset);
        entry.recent_event_ids.push_back(envelope.event_id.clone());
        while entry.recent_event_ids.len() > RECENT_IDS_PER_KEY {
            entry.recent_event_ids.pop_front();
        }
        self.reindex_timers(key, &old_timers, &entry.timers);
        self.entries.insert(key.to_string(), entry);
        self.touched.insert(key.to_string());
        timer_outputs.extend(outputs);
        StepOutcome::Applied(timer_outputs)
    }

    /// Fires every timer of any key whose due time stream time has reached. A timer's output ids
    /// and times depend only on the timer (its key, id and due time: see [`timer_cause`]), never
    /// on which record happened to advance the clock past it.
    fn fire_due_timers<P>(&mut self, processor: &P) -> Vec<Emitted<P::Output>>
    where
        P: Processor<State = S>,
    {
        let mut outputs = Vec::new();
        while let Some(first) = self.timer_index.first().cloned() {
            if first.0 > self.stream_time {
                break;
            }
            self.timer_index.remove(&first);
            let (due, key, id) = first;
            let Some(entry) = self.entries.get_mut(&key) else { continue };
            entry.timers.remove(&id);
            let old_timers = entry.timers.clone();
            let cause = timer_cause(processor.name(), &key, &id, due);
            let scope = format!("{}/{key}/timer/{id}", processor.name());
            let mut ctx = Ctx::new(&key, &cause, scope, self.stream_time, &mut entry.timers).with_output_time(due);
            processor.on_timer(&mut entry.state, &id, &mut ctx);
            outputs.extend(ctx.into_outputs());
            let new_timers = entry.timers.clone();
            self.reindex_timers(&key, &old_timers, &new_timers);
            self.touched.insert(key);
        }
        outputs
    }

    fn reindex_timers(&mut self, key: &str, old: &BTreeMap<String, i64>, new: &BTreeMap<String, i64>) {
        for (id, at) in old {
            if new.get(id) != Some(at) {
                self.timer_index.remove(&(*at, key.to_string(), id.clone()));
            }
        }
        for (id, at) in new {
            self.timer_index.insert((*at, key.to_string(), id.clone()));
        }
    }
}

/// The envelope standing for a timer coming due, from which its outputs derive: id UUIDv5 of
/// (processor, key, timer id, due time), time = the due time, tenant = the key's tenant.
pub fn timer_cause(processor: &str, key: &str, timer_id: &str, due: i64) -> Envelope {
    let tenant = souk_schemas::key::tenant_of(key).unwrap_or(souk_schemas::clock::ANY_TENANT);
    Envelope::external(tenant, &format!("timer/{processor}/{key}/{timer_id}/{due}"), due)
}
