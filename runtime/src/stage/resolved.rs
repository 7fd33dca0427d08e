//! What a stage has already resolved, per input partition: the event ids of the last [`WINDOW`]
//! records before its position, so a copy of an input (a webhook Meta redelivered and the gateway
//! logged again, with the same event id) is resolved once — one extraction, one model call — also
//! across restarts and rebalances. Nothing is stored: the memory is read back from the input log.
//! When a batch brings a partition this consumer has no memory of (a new consumer, a partition
//! assigned), the ids of the records before the batch's first one are read from that partition:
//! everything before the group's position was resolved (or dead-lettered) by whoever owned it.
//! A batch's ids join the memory only once the batch is committed.

use crate::kafka::{committed_reader, header_value, headers};
use anyhow::{anyhow, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// How many records before its position a stage remembers per input partition.
pub const WINDOW: usize = 10_000;

/// An input partition: (topic, partition).
pub type Part = (String, i32);

/// The remembered ids of one partition, oldest first.
#[derive(Debug, Default)]
struct Window {
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl Window {
    fn remember(&mut self, id: String) {
        if self.ids.insert(id.clone()) {
            self.order.push_back(id);
        }
        while self.order.len() > WINDOW {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }
}

/// The memory of one stage instance (one consumer's partitions).
#[derive(Debug, Default)]
pub struct Resolved {
    parts: HashMap<Part, Window>,
}

impl Resolved {
    /// Forgets everything (a new consumer starts again at the committed offsets).
    pub fn clear(&mut self) {
        self.parts.clear();
    }

    /// Forgets partitions that were revoked or assigned: someone else may have resolved records
    /// of theirs meanwhile.
    pub fn forget(&mut self, parts: impl IntoIterator<Item = Part>) {
        for p in parts {
            self.parts.remove(&p);
        }
    }

    /// Whether `id` was resolved on `part` (within the window).
    pub fn contains(&self, part: &Part, id: &str) -> bool {
        self.parts.get(part).is_some_and(|w| w.ids.contains(id))
    }

    /// Of the batch's partitions (with their first offsets), those without a memory yet.
    pub fn unknown(&self, firsts: &BTreeMap<Part, i64>) -> BTreeMap<Part, i64> {
        firsts.iter().filter(|(p, _)| !self.parts.contains_key(*p)).map(|(p, o)| (p.clone(), *o)).collect()
    }

    /// Remembers `ids` (in log order) as resolved on `part`.
    pub fn remember(&mut self, part: &Part, ids: impl IntoIterator<Item = String>) {
        let window = self.parts.entry(part.clone()).or_default();
        for id in ids {
            window.remember(id);
        }
    }
}

/// The event id a record carries in its `souk-event-id` header.
pub fn header_id(msg: &OwnedMessage) -> Option<String> {
    header_value(msg.headers(), headers::EVENT_ID).filter(|id| !id.is_empty())
}

/// Reads, `read_committed`, the up to [`WINDOW`] records before each partition's offset in
/// `before` (on a blocking thread).
pub async fn records_before(bootstrap: &str, group: &str, before: BTreeMap<Part, i64>) -> anyhow::Result<Vec<OwnedMessage>> {
    let (bootstrap, group) = (bootstrap.to_string(), format!("{group}.resolved"));
    tokio::task::spawn_blocking(move || read_before(&bootstrap, &group, &before)).await.context("reading the resolved window")?
}

fn read_before(bootstrap: &str, group: &str, before: &BTreeMap<Part, i64>) -> anyhow::Result<Vec<OwnedMessage>> {
    let mut by_topic: BTreeMap<&str, BTreeMap<i32, i64>> = BTreeMap::new();
    for ((topic, partition), &first) in before {
        if first > 0 {
            by_topic.entry(topic.as_str()).or_default().insert(*partition, first);
        }
    }
    let mut out = Vec::new();
    for (topic, firsts) in by_topic {
        out.extend(read_topic_before(bootstrap, group, topic, &firsts)?);
    }
    Ok(out)
}

/// One topic's part of [`read_before`] (`PartitionEOF` names only the partition).
fn read_topic_before(bootstrap: &str, group: &str, topic: &str, firsts: &BTreeMap<i32, i64>) -> anyhow::Result<Vec<OwnedMessage>> {
    let mut tpl = TopicPartitionList::new();
    for (&partition, &first) in firsts {
        tpl.add_partition_offset(topic, partition, Offset::Offset(first.saturating_sub(WINDOW as i64).max(0)))?;
    }
    let reader: BaseConsumer = committed_reader(bootstrap, group).set("auto.offset.reset", "earliest").create()?;
    reader.assign(&tpl)?;
    let mut open: BTreeSet<i32> = firsts.keys().copied().collect();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !open.is_empty() {
        anyhow::ensure!(Instant::now() < deadline, "reading the records of {topic} before {firsts:?} took over 60 s");
        match reader.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                open.remove(&p);
            }
            Some(Err(e)) => return Err(anyhow!(e).context(format!("reading {topic} for the resolved window"))),
            Some(Ok(m)) if open.contains(&m.partition()) => {
                if m.offset() >= firsts[&m.partition()] {
                    open.remove(&m.partition());
                } else {
                    out.push(m.detach());
                }
            }
            Some(Ok(_)) => {}
        }
    }
    Ok(out)
}
