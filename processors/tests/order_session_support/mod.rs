//! A shop for order-session scenarios: the shipped topology.toml's order session, inventory pool,
//! invoicing and ledger on the broker-free topology driver (`souk_runtime::topology_driver`), which
//! wires them by topic and passes every record between them as Avro bytes through the real codec —
//! so a schema mismatch between two processors fails a scenario as a dead letter — plus builders
//! for intents and owner decisions.
#![allow(dead_code)]

pub mod cta;

use rust_decimal::Decimal;
use souk_processors::order_session::{OrderSession, SessionOutput, SessionState};
use souk_processors::{invoicing::Invoicing, ledger::Ledger, InventoryPool};
use souk_runtime::store::{InputRecord, StepOutcome};
use souk_runtime::topology::Topology;
use souk_runtime::topology_driver::TopologyDriver;
use souk_runtime::{KeyEntry, PartitionStore, TestDriver};
use souk_schemas::inventory::{BatchReceived, CatalogItemUpserted, InventoryCommand};
use souk_schemas::orders::*;
use souk_schemas::whatsapp::OutboundMessageRequested;
use souk_schemas::Envelope;

/// Tenant of every scenario.
pub const TENANT: &str = "acme";
/// The session's input topic.
pub const ORDERS_TOPIC: &str = "orders.inputs";
/// The pool's input topic.
pub const INVENTORY_TOPIC: &str = "inventory.commands";
/// The order-session processor's name in topology.toml.
pub const SESSIONS: &str = "order-session";
/// The inventory-pool processor's name in topology.toml.
pub const POOLS: &str = "inventory-pool";
/// One hour in ms.
pub const HOUR: i64 = 3_600_000;

/// The session key of `customer`.
pub fn key(customer: &str) -> String {
    format!("{TENANT}|{customer}")
}

/// The textile processors joined by their topics.
pub struct Shop {
    /// The topology driver running them.
    pub driver: TopologyDriver,
    /// Every session output, in order: (logical output, key, event).
    pub log: Vec<(&'static str, String, SessionOutput)>,
}

impl Default for Shop {
    fn default() -> Self {
        let topology = Topology::parse(include_str!("../../../topology.toml"), "").expect("topology.toml");
        let catalog = souk_schemas::Catalog::builtin().expect("schemas");
        let driver = TopologyDriver::new(topology, &catalog)
            .and_then(|d| d.with_processor(SESSIONS, OrderSession))
            .and_then(|d| d.with_processor(POOLS, InventoryPool))
            .and_then(|d| d.with_processor("invoicing", Invoicing))
            .and_then(|d| d.with_processor("ledger", Ledger))
            .expect("the textile processors on the topology driver");
        Shop { driver, log: Vec::new() }
    }
}

impl Shop {
    /// The order sessions.
    pub fn sessions(&self) -> &TestDriver<OrderSession> {
        self.driver.processor(SESSIONS)
    }

    /// The inventory pools.
    pub fn pools(&self) -> &TestDriver<InventoryPool> {
        self.driver.processor(POOLS)
    }

    /// Stocks `rolls` × `per_roll` m of `material`/`color` priced at `price` per meter.
    pub fn stock(&mut self, material: &str, color: &str, rolls: i32, per_roll: Decimal, price: Option<Decimal>) {
        let pool = format!("{TENANT}|{material}|{color}");
        if let Some(price) = price {
            let catalog = InventoryCommand::CatalogItemUpserted(CatalogItemUpserted {
                envelope: Envelope::external(TENANT, &format!("catalog-{material}-{color}"), 0),
                material: material.into(),
                color: color.into(),
                price_per_meter: price,
                aliases: vec![],
            });
            self.driver.pipe(INVENTORY_TOPIC, &pool, &catalog).expect("catalog item");
        }
        let batch = InventoryCommand::BatchReceived(BatchReceived {
            envelope: Envelope::external(TENANT, &format!("batch-{material}-{color}"), 0),
            batch_id: format!("b-{material}-{color}"),
            material: material.into(),
            color: color.into(),
            dye_lot: None,
            rolls,
            meters_per_roll: per_roll,
            loose_meters: Decimal::ZERO,
            price_per_meter: None,
            received_at: 0,
        });
        self.driver.pipe(INVENTORY_TOPIC, &pool, &batch).expect("batch");
        self.assert_nothing_dead_lettered();
    }

    /// Feeds one input to `customer`'s session and delivers everything it causes (pools'
    /// answers, invoices, ledger); returns every session output this caused.
    pub fn send(&mut self, customer: &str, input: OrderInput) -> Vec<SessionOutput> {
        let start = self.log.len();
        self.driver.pipe(ORDERS_TOPIC, &key(customer), &input).expect("an order input");
        self.collect(start)
    }

    /// Feeds one input to `customer`'s session only, holding back what it writes (a command stuck
    /// in transit: never delivered); returns the session outputs.
    pub fn send_held(&mut self, customer: &str, input: OrderInput) -> Vec<SessionOutput> {
        let start = self.log.len();
        self.driver.pipe_held(SESSIONS, ORDERS_TOPIC, &key(customer), &input).expect("an order input");
        self.collect(start)
    }

    /// A clock tick at `at` into every pool partition (expires holds); the answers are delivered.
    pub fn tick_pools(&mut self, at: i64) -> Vec<SessionOutput> {
        let start = self.log.len();
        self.driver.tick(INVENTORY_TOPIC, at).expect("a tick");
        self.collect(start)
    }

    /// Moves the session's new outputs into the log (checking every reply for one call to
    /// action), after checking nothing was dead-lettered; the events logged since `start`.
    fn collect(&mut self, start: usize) -> Vec<SessionOutput> {
        self.assert_nothing_dead_lettered();
        let fresh: Vec<_> = self.driver.processor_mut::<OrderSession>(SESSIONS).outputs.drain(..).collect();
        // The directory output carries copies of the snapshots under the order's key (a table).
        for out in fresh.into_iter().filter(|o| o.output != souk_processors::order_session::DIRECTORY_OUTPUT) {
            if let SessionOutput::OutboundMessageRequested(reply) = &out.emitted.event {
                cta::assert_at_most_one_call_to_action(reply);
            }
            self.log.push((out.output, out.emitted.key, out.emitted.event));
        }
        self.log[start..].iter().map(|(_, _, e)| e.clone()).collect()
    }

    /// No processor refused or could not read anything (a dead letter in production).
    fn assert_nothing_dead_lettered(&self) {
        assert!(self.driver.dead_letters.is_empty(), "dead letters: {:#?}", self.driver.dead_letters);
    }

    /// `customer`'s session state.
    pub fn state(&self, customer: &str) -> SessionState {
        self.sessions().state(&key(customer))
    }

    /// The active order id of `customer`.
    pub fn order_id(&self, customer: &str) -> String {
        self.state(customer).session.expect("an active session").order_id
    }

    /// A pool's (on hand, held, available) meters now.
    pub fn pool(&self, material: &str, color: &str) -> (Decimal, Decimal, Decimal) {
        let (_, on_hand, held, available) = self.pools().state(&format!("{TENANT}|{material}|{color}")).levels();
        (on_hand, held, available)
    }

    /// Every inventory command the sessions sent, by kind.
    pub fn inventory_commands(&self) -> Vec<&SessionOutput> {
        self.log.iter().filter(|(o, _, _)| *o == "inventory").map(|(_, _, e)| e).collect()
    }
}

/// An extracted line of `meters` with the stock snapshot the NLU saw.
pub fn line(material: &str, color: &str, meters: Decimal, available: Decimal, price: Option<Decimal>) -> IntentLine {
    IntentLine {
        material: material.into(),
        color: color.into(),
        quantity: meters,
        unit: "m".into(),
        requested_meters: Some(meters),
        match_confidence: Decimal::ONE,
        source_text: format!("{meters}m {color} {material}"),
        available_meters: Some(available),
        price_per_meter: price,
        meters_per_roll: None,
        alternatives: vec![],
    }
}

/// An alternative pool.
pub fn alternative(material: &str, color: &str, available: Decimal) -> StockAlternative {
    StockAlternative { material: material.into(), color: color.into(), available_meters: available, price_per_meter: None }
}

/// A decision about one line.
pub fn decide(action: &str, index: Option<i32>) -> ItemDecision {
    ItemDecision { action: action.into(), material: None, color: None, index, meters: None, replacement: None }
}

/// A message `wamid` from `customer` at `at` meaning `decision` with certainty 0.95.
pub fn says(customer: &str, wamid: &str, at: i64, decision: &str, lines: Vec<IntentLine>, decisions: Vec<ItemDecision>) -> OrderInput {
    says_with(customer, wamid, at, decision, Decimal::new(95, 2), lines, decisions)
}

/// Like [`says`] with an explicit confidence.
pub fn says_with(customer: &str, wamid: &str, at: i64, decision: &str, confidence: Decimal, lines: Vec<IntentLine>, decisions: Vec<ItemDecision>) -> OrderInput {
    let message = Envelope::external(TENANT, wamid, at);
    OrderInput::IntentResolved(IntentResolved {
        envelope: Envelope::external(TENANT, &format!("intent/{wamid}"), at),
        customer: customer.into(),
        message_event_id: message.event_id,
        wamid: wamid.into(),
        text: Some(decision.to_lowercase()),
        reply_id: None,
        decision: decision.into(),
        confidence,
        lines,
        decisions,
        language: "en".into(),
        extractor: "test".into(),
        confidence_threshold: None,
    })
}

/// `message` as judged by the intent stage against a tenant's own confidence threshold.
pub fn judged_against(message: OrderInput, threshold: Option<Decimal>) -> OrderInput {
    match message {
        OrderInput::IntentResolved(intent) => OrderInput::IntentResolved(IntentResolved { confidence_threshold: threshold, ..intent }),
        other => other,
    }
}

/// The owner's `decision` (APPROVE/REJECT) on `order_id` as command `command_id` at `at`.
pub fn owner(customer: &str, command_id: &str, at: i64, order_id: &str, decision: &str) -> OrderInput {
    OrderInput::OwnerDecision(OwnerDecision {
        envelope: Envelope::external(TENANT, command_id, at),
        command_id: command_id.into(),
        order_id: order_id.into(),
        customer: customer.into(),
        decision: decision.into(),
        actor: Some("owner".into()),
        reason: None,
    })
}

/// The replies among outputs.
pub fn replies(outputs: &[SessionOutput]) -> Vec<&OutboundMessageRequested> {
    outputs
        .iter()
        .filter_map(|o| match o {
            SessionOutput::OutboundMessageRequested(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// The snapshots among outputs.
pub fn updates(outputs: &[SessionOutput]) -> Vec<&OrderUpdated> {
    outputs
        .iter()
        .filter_map(|o| match o {
            SessionOutput::OrderUpdated(u) => Some(u),
            _ => None,
        })
        .collect()
}

/// The escalations among outputs.
pub fn escalations(outputs: &[SessionOutput]) -> Vec<&EscalationRaised> {
    outputs
        .iter()
        .filter_map(|o| match o {
            SessionOutput::EscalationRaised(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// The command outcomes among outputs.
pub fn outcomes(outputs: &[SessionOutput]) -> Vec<&CommandOutcome> {
    outputs
        .iter()
        .filter_map(|o| match o {
            SessionOutput::CommandOutcome(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// A short tag per output kind, to assert sequences.
pub fn kinds(outputs: &[SessionOutput]) -> Vec<&'static str> {
    outputs
        .iter()
        .map(|o| match o {
            SessionOutput::OrderUpdated(_) => "OrderUpdated",
            SessionOutput::CommandOutcome(_) => "CommandOutcome",
            SessionOutput::ReserveRequested(_) => "ReserveRequested",
            SessionOutput::CommitRequested(_) => "CommitRequested",
            SessionOutput::ReleaseRequested(_) => "ReleaseRequested",
            SessionOutput::OutboundMessageRequested(_) => "OutboundMessageRequested",
            SessionOutput::EscalationRaised(_) => "EscalationRaised",
            SessionOutput::InvoiceRequested(_) => "InvoiceRequested",
        })
        .collect()
}

/// The last workflow state among outputs' snapshots.
pub fn last_state(outputs: &[SessionOutput]) -> Option<String> {
    updates(outputs).last().map(|u| u.state.clone())
}

/// The statuses of every line of the active session, in order.
pub fn line_statuses(shop: &Shop, customer: &str) -> Vec<(String, String, String)> {
    shop.state(customer).session.map(|s| s.lines.into_iter().map(|l| (format!("{} {}", l.color, l.material), l.status, l.normalized_meters.normalize().to_string())).collect()).unwrap_or_default()
}

/// A restart: `customer`'s changelog entry serialized to JSON and read back into a fresh partition
/// store (what `engine/restore.rs` does), so a scenario can continue on restored state.
pub fn restart(shop: &Shop, customer: &str) -> PartitionStore<SessionState> {
    let k = key(customer);
    let entry = shop.sessions().entry(&k).expect("the customer has state");
    let json = serde_json::to_string(entry).expect("state serializes");
    let back: KeyEntry<SessionState> = serde_json::from_str(&json).expect("state deserializes");
    assert_eq!(&back, entry, "the changelog round trip is lossless");
    let mut store = PartitionStore::default();
    store.restore(k, back, Default::default());
    store.finish_restore();
    store
}

/// Applies one input at `offset` to a restored store; the outputs (none when skipped).
pub fn apply_restored(store: &mut PartitionStore<SessionState>, offset: i64, customer: &str, input: &OrderInput) -> Vec<SessionOutput> {
    let k = key(customer);
    match store.apply(&OrderSession, InputRecord { topic: ORDERS_TOPIC, offset, key: &k, event: input }) {
        StepOutcome::Applied(out) => out.into_iter().map(|e| e.event).collect(),
        StepOutcome::Skipped { .. } => Vec::new(),
        StepOutcome::Rejected { rejection, .. } => panic!("rejected: {rejection}"),
    }
}
