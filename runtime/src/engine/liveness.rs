//! Liveness of a consumer group, checked off the processing loop: a probe thread with its own
//! client compares each input partition's committed offset with its high watermark every few
//! seconds, exports the lag, and flags a stall when a partition has lag but its committed offset
//! did not move for `liveness_after` — whether it is assigned to this instance, to a member that
//! died, or to nobody — and a `read_committed` reader at the committed offset really finds a
//! record there (with transactions the offsets after the last record can be commit markers, so a
//! caught-up group keeps a "lag" of one marker). The engine then recreates its consumer, which
//! rejoins the group and forces a fresh assignment; durable state makes that safe at any time and
//! kept stores make it cheap. A partition the component holds on purpose (a sink waiting out an
//! outage at a deferred record: [`Probe::hold`]) is not a stall until its hold expires.

use crate::metrics::Metrics;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Partitions held on purpose, until when.
type Held = Arc<Mutex<HashMap<(String, i32), Instant>>>;

/// Handle of the probe thread; stops it when dropped.
pub struct Probe {
    stalled: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    held: Held,
}

impl Probe {
    /// Starts probing `group` (consuming `inputs`, reported as `component`) every 5 s. Works for any
    /// component that commits its progress to the group (sinks commit informationally).
    pub fn start(bootstrap: &str, group: &str, inputs: &[String], component: &str, after: Duration) -> anyhow::Result<Probe> {
        let consumer: BaseConsumer = crate::admin::client_config(bootstrap).set("group.id", group).set("enable.auto.commit", "false").set("isolation.level", "read_committed").create()?;
        let (stalled, stop, held) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)), Held::default());
        let (flag, halt, inputs, name, bootstrap, on_hold) = (stalled.clone(), stop.clone(), inputs.to_vec(), component.to_string(), bootstrap.to_string(), held.clone());
        std::thread::Builder::new().name(format!("liveness-{name}")).spawn(move || {
            let mut progress: HashMap<(String, i32), (i64, Instant)> = HashMap::new();
            while !halt.load(Ordering::Relaxed) {
                if check(&consumer, &bootstrap, &inputs, &name, after, &on_hold, &mut progress) {
                    flag.store(true, Ordering::Relaxed);
                    progress.clear();
                }
                for _ in 0..50 {
                    if halt.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })?;
        Ok(Probe { stalled, stop, held })
    }

    /// Partition `topic`/`partition` does not move until `until` on purpose (its component waits
    /// at a record it will retry): no stall is reported for it before then.
    pub fn hold(&self, topic: &str, partition: i32, until: Instant) {
        if let Ok(mut h) = self.held.lock() {
            let now = Instant::now();
            h.retain(|_, t| *t > now);
            h.insert((topic.to_string(), partition), until);
        }
    }

    /// True once after a stall was detected.
    pub fn take_stalled(&self) -> bool {
        self.stalled.swap(false, Ordering::Relaxed)
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn check(consumer: &BaseConsumer, bootstrap: &str, inputs: &[String], name: &str, after: Duration, held: &Held, progress: &mut HashMap<(String, i32), (i64, Instant)>) -> bool {
    let timeout = Duration::from_secs(5);
    let mut tpl = TopicPartitionList::new();
    for topic in inputs {
        let Ok(metadata) = consumer.fetch_metadata(Some(topic), timeout) else { return false };
        for t in metadata.topics() {
            for p in t.partitions() {
                tpl.add_partition(topic, p.id());
            }
        }
    }
    let Ok(committed) = consumer.committed_offsets(tpl, timeout) else { return false };
    let now = Instant::now();
    let mut stalled = false;
    for e in committed.elements() {
        let Ok((low, high)) = consumer.fetch_watermarks(e.topic(), e.partition(), timeout) else { continue };
        let at = if let Offset::Offset(o) = e.offset() { o } else { low };
        let lag = (high - at).max(0);
        Metrics::global().consumer_lag.with_label_values(&[name, e.topic(), &e.partition().to_string()]).set(lag);
        let tp = (e.topic().to_string(), e.partition());
        let on_hold = held.lock().map(|h| h.get(&tp).is_some_and(|until| *until > now)).unwrap_or(false);
        let entry = progress.entry(tp).or_insert((at, now));
        if entry.0 != at || lag == 0 || on_hold {
            *entry = (at, now);
        } else if now.duration_since(entry.1) > after {
            match crate::kafka::has_records_from(bootstrap, e.topic(), e.partition(), at, Duration::from_secs(5)) {
                Ok(true) => {}
                Ok(false) => {
                    // only transaction markers (or aborted records) after the committed offset
                    *entry = (at, now);
                    continue;
                }
                Err(err) => {
                    tracing::debug!(component = name, error = %err, "liveness: end probe failed");
                    continue;
                }
            }
            tracing::warn!(component = name, topic = e.topic(), partition = e.partition(), lag, "partition has lag but no progress; recreating the consumer to force a fresh assignment");
            Metrics::global().stalls.with_label_values(&[name]).inc();
            stalled = true;
        }
    }
    stalled
}
