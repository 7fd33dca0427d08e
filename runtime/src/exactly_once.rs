//! How a batch's effects (outputs, dead letters, changelog records, consumer offsets) become
//! durable exactly once. Two modes, chosen per run and printed at start:
//!
//! - **`transactions`** (the default wherever the broker supports them): each batch is one Kafka
//!   transaction holding everything it writes and the consumer offsets
//!   (`send_offsets_to_transaction` with the consumer's group metadata, KIP-447). A zombie — an
//!   instance that lost its partitions while frozen — is fenced by the broker: its offsets carry a
//!   stale generation, so its transaction aborts and nothing it wrote becomes visible to
//!   `read_committed` readers. An aborted batch leaves no trace downstream.
//! - **`idempotent-effects`**, for brokers without transactions: outputs, then changelog records,
//!   then the stream-time markers, each step acked before the next, then the offset commit.
//!   Deterministic ids and per-key applied offsets make every replay a byte-identical re-emission
//!   that downstream dedups by event id (ARCHITECTURE, "Exactly-once effects").

use crate::kafka::{producer, send_all, OutRecord};
use anyhow::{bail, Context};
use rdkafka::consumer::Consumer;
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::TopicPartitionList;
use std::sync::OnceLock;
use std::time::Duration;

/// The protocol that makes a batch's effects exactly-once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One Kafka transaction per batch (EOS v2).
    Transactions,
    /// Acked steps and deterministic re-emission, for brokers without transactions.
    IdempotentEffects,
}

impl Mode {
    /// The name used on the command line and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Transactions => "transactions",
            Mode::IdempotentEffects => "idempotent-effects",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the operator asked for: a mode, or `auto` (transactions if the broker supports them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeChoice {
    /// Detect: transactions when the broker completes a transactional handshake.
    Auto,
    /// This mode, whatever the broker says (transactions fail loudly where unsupported).
    Forced(Mode),
}

impl std::str::FromStr for ModeChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(ModeChoice::Auto),
            "transactions" => Ok(ModeChoice::Forced(Mode::Transactions)),
            "idempotent-effects" => Ok(ModeChoice::Forced(Mode::IdempotentEffects)),
            other => Err(format!("unknown exactly-once mode {other:?} (auto, transactions, idempotent-effects)")),
        }
    }
}

/// How long a transaction may stay open before the broker aborts it. It bounds how long a
/// crashed instance's open transaction blocks `read_committed` readers of its partitions (a
/// restarted instance with the same transactional id aborts it at once), so it is short; a batch
/// only opens its transaction after everything is decoded and applied.
pub const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(10);

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Resolves `choice` against the broker at `bootstrap` (detection is done once per process) and
/// says why: `(mode, reason)`.
pub fn resolve(choice: ModeChoice, bootstrap: &str) -> (Mode, String) {
    static DETECTED: OnceLock<(Mode, String)> = OnceLock::new();
    match choice {
        ModeChoice::Forced(mode) => (mode, "chosen by configuration".into()),
        ModeChoice::Auto => DETECTED.get_or_init(|| detect(bootstrap)).clone(),
    }
}

/// Transactions if the broker completes `InitProducerId` for a transactional id (a broker without
/// a transaction coordinator fails it), else idempotent effects.
fn detect(bootstrap: &str) -> (Mode, String) {
    let id = format!("souk-probe-{}", uuid::Uuid::new_v4());
    let probe = transactional_producer(bootstrap, &id).and_then(|p| p.init_transactions(Duration::from_secs(15)).context("init_transactions"));
    match probe {
        Ok(()) => (Mode::Transactions, "detected: the broker supports transactions".into()),
        Err(e) => (Mode::IdempotentEffects, format!("detected: the broker does not complete a transactional handshake ({e:#})")),
    }
}

fn transactional_producer(bootstrap: &str, transactional_id: &str) -> anyhow::Result<FutureProducer> {
    let mut config = crate::admin::client_config(bootstrap);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .set("transactional.id", transactional_id)
        .set("transaction.timeout.ms", TRANSACTION_TIMEOUT.as_millis().to_string())
        .set("message.timeout.ms", TRANSACTION_TIMEOUT.as_millis().to_string());
    config.create().context("transactional producer")
}

/// Writes one batch's effects and commits its consumer offsets, in either mode.
pub struct BatchWriter {
    mode: Mode,
    bootstrap: String,
    transactional_id: String,
    producer: FutureProducer,
    open: bool,
}

impl BatchWriter {
    /// A writer for `mode`. `transactional_id` must be unique per running instance of a component
    /// and should be stable across its restarts (a restart then aborts the crashed instance's open
    /// transaction at once instead of after [`TRANSACTION_TIMEOUT`]).
    pub fn new(mode: Mode, bootstrap: &str, transactional_id: &str) -> anyhow::Result<BatchWriter> {
        let producer = Self::connect(mode, bootstrap, transactional_id)?;
        Ok(BatchWriter { mode, bootstrap: bootstrap.to_string(), transactional_id: transactional_id.to_string(), producer, open: false })
    }

    fn connect(mode: Mode, bootstrap: &str, transactional_id: &str) -> anyhow::Result<FutureProducer> {
        match mode {
            Mode::IdempotentEffects => producer(bootstrap),
            Mode::Transactions => {
                let p = transactional_producer(bootstrap, transactional_id)?;
                tokio::task::block_in_place(|| p.init_transactions(CALL_TIMEOUT)).with_context(|| format!("init_transactions for {transactional_id}"))?;
                Ok(p)
            }
        }
    }

    /// The mode this writer commits in.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Starts a batch (opens its transaction).
    pub fn begin(&mut self) -> anyhow::Result<()> {
        if self.mode == Mode::Transactions {
            if let Err(e) = self.producer.begin_transaction() {
                // A fenced or fatally failed producer cannot begin again: start over with a fresh one.
                tracing::warn!(transactional_id = %self.transactional_id, error = %e, "begin_transaction failed; replacing the producer");
                self.producer = Self::connect(self.mode, &self.bootstrap, &self.transactional_id)?;
                self.producer.begin_transaction().context("begin_transaction")?;
            }
            self.open = true;
        }
        Ok(())
    }

    /// Produces `records` and waits for every ack; returns each record's (partition, offset).
    /// In a transaction the records stay invisible to `read_committed` readers until commit.
    pub async fn send(&self, records: Vec<OutRecord>) -> anyhow::Result<Vec<(i32, i64)>> {
        send_all(&self.producer, records).await
    }

    /// Commits the batch: its offsets `next` (the offset after each last processed record) inside
    /// the transaction, or as a synchronous group commit.
    pub fn commit<C: Consumer<X>, X: rdkafka::consumer::ConsumerContext>(&mut self, consumer: &C, next: &TopicPartitionList) -> anyhow::Result<()> {
        match self.mode {
            Mode::IdempotentEffects => tokio::task::block_in_place(|| consumer.commit(next, rdkafka::consumer::CommitMode::Sync)).context("committing offsets"),
            Mode::Transactions => {
                let Some(group) = consumer.group_metadata() else { bail!("the consumer has no group metadata") };
                tokio::task::block_in_place(|| self.producer.send_offsets_to_transaction(next, &group, CALL_TIMEOUT)).context("send_offsets_to_transaction (a zombie is fenced here)")?;
                tokio::task::block_in_place(|| self.producer.commit_transaction(CALL_TIMEOUT)).context("commit_transaction")?;
                self.open = false;
                Ok(())
            }
        }
    }

    /// Abandons a failed batch: aborts its transaction, or, when the producer cannot abort (it
    /// was fenced, or hit a fatal error), replaces it with a fresh one under the same id, which
    /// also aborts whatever was left open.
    pub fn abort(&mut self) -> anyhow::Result<()> {
        if self.mode != Mode::Transactions || !self.open {
            return Ok(());
        }
        self.open = false;
        if let Err(e) = tokio::task::block_in_place(|| self.producer.abort_transaction(CALL_TIMEOUT)) {
            tracing::warn!(transactional_id = %self.transactional_id, error = %e, "abort_transaction failed; replacing the producer");
            self.producer = Self::connect(self.mode, &self.bootstrap, &self.transactional_id)?;
        }
        Ok(())
    }
}

/// The transactional id of one instance of a component: `<group>.<instance>`.
pub fn transactional_id(group: &str, instance: &str) -> String {
    format!("{group}.{instance}")
}
