//! The one consume loop every souk consumer runs — the processor engine, enrichment stages, the
//! Postgres sinks (and the WhatsApp dispatcher on them) and the search sink. The loop owns what
//! they share: the consumer's life (created, recreated after a failure or a stall, unsubscribed at
//! the end), collecting batches, shutdown between batches, one retry policy ([`Backoff`]), one
//! liveness probe, and the failure metrics. What differs is how a batch becomes durable — a Kafka
//! transaction, outputs + changelog + group commit, an SQL transaction with the offsets, a
//! tantivy commit with the offsets in its payload — and that is the component's [`BatchCommit`].
//!
//! A failed batch never advances anything: the component discards what the attempt left in
//! memory, the consumer is dropped, and after the backoff a new one starts again from the
//! component's durable position (the group's committed offsets, the stored offsets in Postgres,
//! the index's commit payload).

use crate::engine::liveness::Probe;
use crate::kafka::collect_batch_within;
use crate::metrics::Metrics;
use crate::topology::ComponentSpec;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::Message;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;

/// The retry policy of every consume loop: the first retry after `min`, doubling per consecutive
/// failure up to `max`, back to `min` after a batch commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay.
    pub min: Duration,
    /// Longest delay.
    pub max: Duration,
    current: Duration,
}

impl Backoff {
    /// Doubling from `min` to `max`.
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff { min, max, current: min }
    }

    /// The delay before the next retry; the one after it is twice as long (at most `max`).
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.current;
        self.current = (self.current * 2).min(self.max);
        delay
    }

    /// A batch committed: the next failure waits `min` again.
    pub fn reset(&mut self) {
        self.current = self.min;
    }
}

impl Default for Backoff {
    /// 250 ms, doubling to 30 s.
    fn default() -> Backoff {
        Backoff::new(Duration::from_millis(250), Duration::from_secs(30))
    }
}

/// Tunables of a consume loop.
#[derive(Debug, Clone)]
pub struct LoopSettings {
    /// Kafka bootstrap servers (for the liveness probe).
    pub bootstrap: String,
    /// Max records per batch.
    pub batch_size: usize,
    /// How long to wait for more records once a batch has begun.
    pub batch_wait: Duration,
    /// Retry policy after a failed batch.
    pub backoff: Backoff,
    /// A partition with lag and no progress for this long recreates the consumer.
    pub liveness_after: Duration,
}

impl LoopSettings {
    /// Defaults: 500 records, 20 ms, [`Backoff::default`], 30 s liveness.
    pub fn new(bootstrap: &str) -> LoopSettings {
        LoopSettings { bootstrap: bootstrap.to_string(), batch_size: 500, batch_wait: Duration::from_millis(20), backoff: Backoff::default(), liveness_after: Duration::from_secs(30) }
    }
}

/// What the loop hands a component for one batch.
pub struct Batch<'a, C: ConsumerContext + 'static> {
    /// The consumer the records came from (commits, pauses, seeks, assignment).
    pub consumer: &'a StreamConsumer<C>,
    /// The liveness probe (a component holding a partition on purpose tells it).
    pub probe: &'a Probe,
    /// The records, in the order the consumer delivered them (possibly none).
    pub records: Vec<OwnedMessage>,
}

/// How one component's batches become durable: the part of the consume loop that differs.
pub trait BatchCommit: Send {
    /// The consumer's context (rebalance callbacks).
    type Context: ConsumerContext + 'static;

    /// The component as topology.toml declares it: its name labels logs and metrics, the
    /// liveness probe watches its group's committed offsets on its inputs.
    fn spec(&self) -> &ComponentSpec;

    /// A new consumer, subscribed or assigned, that starts at the component's durable position.
    /// Called at start and after every failure or stall; in-memory progress not yet durable
    /// must be forgotten here.
    fn consumer(&mut self) -> anyhow::Result<StreamConsumer<Self::Context>>;

    /// Processes one batch and makes its effects durable. An error fails the batch: nothing it
    /// did may count, and the loop retries from the durable position after the backoff.
    fn commit(&mut self, batch: Batch<'_, Self::Context>) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Undoes what a failed batch left behind (abort a transaction, roll a writer back, drop the
    /// stores it touched), before the consumer is recreated.
    fn discard(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Records to process before polling again (e.g. received while stores were restored).
    fn take_pending(&mut self) -> Vec<OwnedMessage> {
        Vec::new()
    }

    /// Called before each poll (e.g. resume partitions whose wait is over).
    fn before_poll(&mut self, _consumer: &StreamConsumer<Self::Context>) {}

    /// How long a poll may wait for a first record (shorter when something is due sooner).
    fn first_wait(&self) -> Duration {
        Duration::from_secs(1)
    }
}

/// Runs `component` until `shutdown` turns true; a failing batch is retried forever (with the
/// backoff), a failure to create a consumer ends the loop with the error.
pub async fn run<B: BatchCommit>(mut component: B, settings: LoopSettings, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let metrics = Metrics::global();
    let name = component.spec().name.clone();
    let mut consumer = component.consumer()?;
    let probe = Probe::start(&settings.bootstrap, &component.spec().group_id, &component.spec().input_topics(), &name, settings.liveness_after)?;
    let mut backoff = settings.backoff;
    loop {
        if *shutdown.borrow() {
            break;
        }
        component.before_poll(&consumer);
        let pending = component.take_pending();
        let records = if pending.is_empty() {
            tokio::select! {
                b = collect_batch_within(&consumer, settings.batch_size, component.first_wait(), settings.batch_wait) => b,
                _ = shutdown.changed() => break,
            }
        } else {
            pending
        };
        for r in &records {
            metrics.records_in.with_label_values(&[&name, r.topic(), &r.partition().to_string()]).inc();
        }
        match component.commit(Batch { consumer: &consumer, probe: &probe, records }).await {
            Ok(()) => backoff.reset(),
            Err(e) => {
                component.discard().await;
                if *shutdown.borrow() {
                    tracing::info!(component = %name, error = format!("{e:#}"), "stopping; the interrupted batch is retried on restart");
                    break;
                }
                let delay = backoff.next_delay();
                metrics.batch_failures.with_label_values(&[&name]).inc();
                tracing::error!(component = %name, error = format!("{e:#}"), retry_in_ms = delay.as_millis() as u64, "batch failed; nothing advanced, retrying from the durable position");
                consumer.unsubscribe();
                drop(consumer);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => {
                        tracing::info!(component = %name, "stopping");
                        return Ok(());
                    }
                }
                consumer = component.consumer()?;
                continue;
            }
        }
        if probe.take_stalled() {
            consumer.unsubscribe();
            drop(consumer);
            consumer = component.consumer()?;
        }
    }
    tracing::info!(component = %name, "stopping");
    consumer.unsubscribe();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_to_its_cap_and_resets_after_a_commit() {
        let mut b = Backoff::new(Duration::from_millis(250), Duration::from_secs(1));
        let delays: Vec<u128> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, vec![250, 500, 1000, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(250));
        assert_eq!(Backoff::default(), Backoff::new(Duration::from_millis(250), Duration::from_secs(30)));
    }
}
