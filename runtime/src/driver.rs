//! A broker-free test driver (like Kafka Streams' TopologyTestDriver): feeds events to a processor
//! through the same [`PartitionStore::apply`] step the Kafka engine runs, and collects outputs,
//! rejections and final state. Also used to replay a real topic's log and compare with the engine.

use crate::partitioner::partition_for;
use crate::processor::{Emitted, Processor, Rejection};
use crate::store::{InputRecord, KeyEntry, PartitionStore, StepOutcome};
use std::collections::HashMap;

/// One output as the driver collected it, with the input position that caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverOutput<O> {
    /// Logical output name (see [`Processor::output_name`]).
    pub output: &'static str,
    /// Input partition whose record caused it.
    pub partition: i32,
    /// Key and event.
    pub emitted: Emitted<O>,
}

/// Runs a processor over in-memory input.
pub struct TestDriver<P: Processor> {
    processor: P,
    partitions: Vec<PartitionStore<P::State>>,
    next_offset: HashMap<(String, i32), i64>,
    /// Every output in order.
    pub outputs: Vec<DriverOutput<P::Output>>,
    /// Every rejected input: (topic, partition, offset, rejection).
    pub rejections: Vec<(String, i32, i64, Rejection)>,
    /// How many records were skipped as replays or duplicates.
    pub skipped: u64,
}

impl<P: Processor> TestDriver<P> {
    /// A driver with `partitions` input partitions (as many as the input topic has).
    pub fn new(processor: P, partitions: i32) -> Self {
        TestDriver { processor, partitions: (0..partitions).map(|_| PartitionStore::default()).collect(), next_offset: HashMap::new(), outputs: Vec::new(), rejections: Vec::new(), skipped: 0 }
    }

    /// Feeds a keyed event to the partition Kafka would put `key` in, at the next offset.
    pub fn feed(&mut self, topic: &str, key: &str, event: P::Input) -> Vec<Emitted<P::Output>> {
        let partition = partition_for(key.as_bytes(), self.partitions.len() as i32);
        let offset = self.bump(topic, partition);
        self.feed_at(topic, partition, offset, key, &event)
    }

    /// Feeds a tick (or any event) to an explicit partition at the next offset.
    pub fn feed_partition(&mut self, topic: &str, partition: i32, key: &str, event: P::Input) -> Vec<Emitted<P::Output>> {
        let offset = self.bump(topic, partition);
        self.feed_at(topic, partition, offset, key, &event)
    }

    /// Feeds a record at an explicit position (replaying a real log, or a redelivery).
    pub fn feed_at(&mut self, topic: &str, partition: i32, offset: i64, key: &str, event: &P::Input) -> Vec<Emitted<P::Output>> {
        let next = self.next_offset.entry((topic.to_string(), partition)).or_insert(0);
        *next = (*next).max(offset + 1);
        let store = &mut self.partitions[partition as usize];
        let outcome = store.apply(&self.processor, InputRecord { topic, offset, key, event });
        store.take_touched();
        let emitted = match outcome {
            StepOutcome::Applied(out) => out,
            StepOutcome::Skipped { timer_outputs, .. } => {
                self.skipped += 1;
                timer_outputs
            }
            StepOutcome::Rejected { rejection, timer_outputs } => {
                self.rejections.push((topic.to_string(), partition, offset, rejection));
                timer_outputs
            }
        };
        for e in &emitted {
            self.outputs.push(DriverOutput { output: e.output.unwrap_or_else(|| self.processor.output_name(&e.event)), partition, emitted: e.clone() });
        }
        emitted
    }

    /// The state of `key` (default if never seen).
    pub fn state(&self, key: &str) -> P::State {
        self.entry(key).map(|e| e.state.clone()).unwrap_or_default()
    }

    /// The full entry of `key` (state, timers, applied offsets, recent ids).
    pub fn entry(&self, key: &str) -> Option<&KeyEntry<P::State>> {
        let partition = partition_for(key.as_bytes(), self.partitions.len() as i32);
        self.partitions[partition as usize].get(key)
    }

    /// Every key's state, across partitions.
    pub fn all_states(&self) -> HashMap<String, P::State> {
        self.partitions.iter().flat_map(|p| p.entries().iter().map(|(k, e)| (k.clone(), e.state.clone()))).collect()
    }

    /// The processor under test.
    pub fn processor(&self) -> &P {
        &self.processor
    }

    fn bump(&mut self, topic: &str, partition: i32) -> i64 {
        let next = self.next_offset.entry((topic.to_string(), partition)).or_insert(0);
        let offset = *next;
        *next += 1;
        offset
    }
}
