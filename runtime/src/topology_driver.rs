//! A broker-free driver of a whole topology (like Kafka Streams' TopologyTestDriver): the
//! processors declared in topology.toml, wired by topic as the file wires them, exchanging Avro
//! bytes through the real [`Codec`] (with its in-process registry). An input piped into a topic is
//! encoded for that topic; every processor reading the topic decodes it into its own input type,
//! applies it with the same step the Kafka engine runs ([`TestDriver`]), and its outputs are
//! encoded for the topics its `outputs` name, then delivered to their readers — until nothing is
//! left to deliver. So a processor whose output does not fit the next one's input (a schema or
//! union mismatch) fails here as it would in production: as a dead letter.
//!
//! Delivery is breadth-first in the order records were written, partitions chosen by the same
//! murmur2 partitioner as the producer, offsets counted per topic partition: deterministic.

use crate::codec::Codec;
use crate::driver::TestDriver;
use crate::partitioner::partition_for;
use crate::processor::{Processor, Rejection};
use crate::topology::{ComponentSpec, Role, Topology};
use anyhow::{anyhow, Context};
use futures::executor::block_on;
use serde::{de::DeserializeOwned, Serialize};
use std::any::Any;
use std::collections::{BTreeMap, VecDeque};

/// One record on a topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The declared topic.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// Its key.
    pub key: String,
    /// Its value: Confluent-framed Avro.
    pub value: Vec<u8>,
}

/// A record a processor refused or could not read (a dead letter in production).
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The processor.
    pub component: String,
    /// Where the record was.
    pub topic: String,
    /// Its partition and offset.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Why.
    pub error: String,
}

/// Records a processor wrote: (topic, key, value).
type Outputs = Vec<(String, String, Vec<u8>)>;

/// A processor in the driver, whatever its types.
trait Node: Send {
    fn spec(&self) -> &ComponentSpec;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// Applies one record: its outputs as (topic, key, value), and why it is a dead letter if it
    /// is one (a rejected record still fires the timers that were due).
    fn apply(&mut self, codec: &Codec, record: &Record) -> anyhow::Result<(Outputs, Option<String>)>;
}

struct ProcessorNode<P: Processor> {
    spec: ComponentSpec,
    driver: TestDriver<P>,
}

impl<P: Processor + 'static> Node for ProcessorNode<P> {
    fn spec(&self) -> &ComponentSpec {
        &self.spec
    }

    fn as_any(&self) -> &dyn Any {
        &self.driver
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        &mut self.driver
    }

    fn apply(&mut self, codec: &Codec, record: &Record) -> anyhow::Result<(Outputs, Option<String>)> {
        let event: P::Input = match block_on(codec.decode(&record.value)) {
            Ok(e) => e,
            Err(e) => return Ok((Vec::new(), Some(format!("{} cannot read a record of {}: {e}", self.spec.name, record.topic)))),
        };
        let rejected = self.driver.rejections.len();
        let emitted = self.driver.feed_at(&record.topic, record.partition, record.offset, &record.key, &event);
        let dead = self.driver.rejections.get(rejected).map(|(_, _, _, Rejection { code, detail })| format!("rejected: {code}: {detail}"));
        let mut out = Vec::with_capacity(emitted.len());
        for e in emitted {
            let logical = e.output.unwrap_or_else(|| self.driver.processor().output_name(&e.event));
            let topic = self.spec.outputs.get(logical).ok_or_else(|| anyhow!("processor {} emitted to undeclared output {logical}", self.spec.name))?;
            let value = block_on(codec.encode(topic, &e.event)).with_context(|| format!("{} encoding its {logical} output for {topic}", self.spec.name))?;
            out.push((topic.clone(), e.key, value));
        }
        Ok((out, dead))
    }
}

/// The processors of a topology, run together without a broker.
pub struct TopologyDriver {
    topology: Topology,
    codec: Codec,
    nodes: Vec<Box<dyn Node>>,
    log: BTreeMap<String, Vec<Record>>,
    queue: VecDeque<Record>,
    /// Every dead letter, in order.
    pub dead_letters: Vec<DeadLetter>,
}

impl TopologyDriver {
    /// A driver for `topology` (parsed without a topic prefix) with the schemas of `catalog`.
    pub fn new(topology: Topology, catalog: &souk_schemas::Catalog) -> anyhow::Result<TopologyDriver> {
        anyhow::ensure!(topology.prefix().is_empty(), "the topology driver runs on declared topic names (no prefix)");
        let topics: Vec<(String, Vec<String>)> = topology.topic_specs().into_iter().map(|s| (s.name, s.records)).collect();
        let codec = Codec::in_memory(&topics, catalog)?;
        Ok(TopologyDriver { topology, codec, nodes: Vec::new(), log: BTreeMap::new(), queue: VecDeque::new(), dead_letters: Vec::new() })
    }

    /// Adds processor `name` of the topology, implemented by `processor`; it reads its declared
    /// inputs from now on.
    pub fn with_processor<P: Processor + 'static>(mut self, name: &str, processor: P) -> anyhow::Result<TopologyDriver> {
        let spec = self.topology.component(Role::Processor, name)?;
        let partitions = spec.inputs.first().map_or(1, |i| i.partitions);
        self.nodes.push(Box::new(ProcessorNode { spec, driver: TestDriver::new(processor, partitions) }));
        Ok(self)
    }

    /// The codec records are encoded with.
    pub fn codec(&self) -> &Codec {
        &self.codec
    }

    /// Writes `event` under `key` to `topic` (encoded for it) and delivers everything it causes.
    pub fn pipe<E: Serialize>(&mut self, topic: &str, key: &str, event: &E) -> anyhow::Result<()> {
        let value = block_on(self.codec.encode(topic, event)).with_context(|| format!("encoding input for {topic}"))?;
        let partition = partition_for(key.as_bytes(), self.topology.partitions(topic));
        self.write(topic, Some(partition), key, value);
        self.run()
    }

    /// Writes `event` under `key` to `topic` and applies it to processor `name` only, holding back
    /// whatever it writes: on the log, never delivered (a message stuck in transit). Its typed
    /// outputs are in the processor's [`TestDriver::outputs`].
    pub fn pipe_held<E: Serialize>(&mut self, name: &str, topic: &str, key: &str, event: &E) -> anyhow::Result<()> {
        let value = block_on(self.codec.encode(topic, event)).with_context(|| format!("encoding input for {topic}"))?;
        let record = self.append(topic, None, key, value);
        let node = self.nodes.iter_mut().find(|n| n.spec().name == name).ok_or_else(|| anyhow!("no processor {name} in the driver"))?;
        let (outputs, dead) = node.apply(&self.codec, &record)?;
        if let Some(error) = dead {
            self.dead_letters.push(DeadLetter { component: name.to_string(), topic: record.topic.clone(), partition: record.partition, offset: record.offset, error });
        }
        for (topic, key, value) in outputs {
            self.append(&topic, None, &key, value);
        }
        Ok(())
    }

    /// A clock tick at `at_ms` into every partition of `topic` (a topic with `ticks = true`), as the
    /// ticker writes it, and everything it causes.
    pub fn tick(&mut self, topic: &str, at_ms: i64) -> anyhow::Result<()> {
        for partition in 0..self.topology.partitions(topic) {
            let value = block_on(self.codec.encode_json(topic, &souk_schemas::clock::tick_json(topic, partition, at_ms)))?;
            self.write(topic, Some(partition), souk_schemas::clock::TICK_KEY, value);
        }
        self.run()
    }

    /// Every record written to `topic`, in order.
    pub fn records(&self, topic: &str) -> &[Record] {
        self.log.get(topic).map_or(&[], Vec::as_slice)
    }

    /// Every record of `topic` decoded as `T`, with its key.
    pub fn read<T: DeserializeOwned>(&self, topic: &str) -> anyhow::Result<Vec<(String, T)>> {
        self.records(topic).iter().map(|r| Ok((r.key.clone(), block_on(self.codec.decode(&r.value)).with_context(|| format!("decoding {topic}@{}", r.offset))?))).collect()
    }

    /// The [`TestDriver`] of processor `name` (its states, outputs and rejections).
    pub fn processor<P: Processor + 'static>(&self, name: &str) -> &TestDriver<P> {
        self.nodes.iter().find(|n| n.spec().name == name).and_then(|n| n.as_any().downcast_ref()).unwrap_or_else(|| panic!("no processor {name} of that type in the driver"))
    }

    /// The [`TestDriver`] of processor `name`, mutably (e.g. to drain its outputs).
    pub fn processor_mut<P: Processor + 'static>(&mut self, name: &str) -> &mut TestDriver<P> {
        self.nodes.iter_mut().find(|n| n.spec().name == name).and_then(|n| n.as_any_mut().downcast_mut()).unwrap_or_else(|| panic!("no processor {name} of that type in the driver"))
    }

    /// Appends a record to the topic's log and queues it for its readers.
    fn write(&mut self, topic: &str, partition: Option<i32>, key: &str, value: Vec<u8>) {
        let record = self.append(topic, partition, key, value);
        self.queue.push_back(record);
    }

    /// Appends a record to the topic's log at the partition's next offset.
    fn append(&mut self, topic: &str, partition: Option<i32>, key: &str, value: Vec<u8>) -> Record {
        let partition = partition.unwrap_or_else(|| partition_for(key.as_bytes(), self.topology.partitions(topic)));
        let records = self.log.entry(topic.to_string()).or_default();
        let offset = records.iter().filter(|r| r.partition == partition).count() as i64;
        let record = Record { topic: topic.to_string(), partition, offset, key: key.to_string(), value };
        records.push(record.clone());
        record
    }

    /// Delivers queued records to their readers until none is left.
    fn run(&mut self) -> anyhow::Result<()> {
        while let Some(record) = self.queue.pop_front() {
            let mut written = Vec::new();
            for node in self.nodes.iter_mut().filter(|n| n.spec().inputs.iter().any(|i| i.declared == record.topic)) {
                let (outputs, dead) = node.apply(&self.codec, &record)?;
                written.extend(outputs);
                if let Some(error) = dead {
                    self.dead_letters.push(DeadLetter { component: node.spec().name.clone(), topic: record.topic.clone(), partition: record.partition, offset: record.offset, error });
                }
            }
            for (topic, key, value) in written {
                self.write(&topic, None, &key, value);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
