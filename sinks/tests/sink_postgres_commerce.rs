//! The commerce Postgres sink on the real local stack (Apache Kafka + Apicurio + Postgres): a
//! realistic conversation (inbound messages, order snapshots FINAL → WAITING → COMPLETED, a rejected
//! second order, replies with dispatch results and delivery statuses, owner command outcomes incl.
//! INVALID_STATE, invoice, ledger entries, payments, escalation, reminder) lands in the read models:
//! pending approvals hold an order exactly while it waits (rules F3.22), the message log has every
//! message with its direction, order and forward-only status (rules F3.21), invoice totals are exact.
//! The sink is stopped between the two halves and restarted; then its offsets are wiped and the
//! whole log is applied again over the existing rows, which must leave every row unchanged.
//! Needs `./dev up` (SOUK_KAFKA_BOOTSTRAP, SOUK_SCHEMA_REGISTRY_URL, SOUK_DATABASE_URL).

use rust_decimal::Decimal;
use serde::Serialize;
use souk_projections::queries::{self, MessageFilter, OrderFilter};
use souk_runtime::kafka::{make_headers, producer, send_all, OutRecord};
use souk_runtime::testkit::unique_prefix;
use souk_runtime::topology::Topology;
use souk_runtime::{admin, stack};
use souk_schemas::billing::*;
use souk_schemas::clock::Tick;
use souk_schemas::inventory::BatchAllocation;
use souk_schemas::orders::*;
use souk_schemas::whatsapp::*;
use souk_schemas::{Catalog, Envelope};
use souk_sinks::postgres::run_commerce_sink;
use sqlx::PgPool;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SINK: &str = "commerce-postgres";
const INPUTS: [&str; 7] = ["whatsapp.inbound", "whatsapp.status", "whatsapp.outbound", "orders.events", "escalations", "ledger.inputs", "ledger.events"];
const TABLES: [&str; 15] = [
    "orders",
    "order_lines",
    "sessions",
    "pending_approvals",
    "order_history",
    "messages",
    "message_order_links",
    "message_statuses",
    "invoices",
    "ledger_entries",
    "ledger_balances",
    "payments",
    "payment_reminders",
    "escalations",
    "command_outcomes",
];
const ASHA: &str = "919800000001";
const RAVI: &str = "919800000002";
const T0: i64 = 1_760_000_000_000;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal literal")
}

struct Setup {
    topology: Topology,
    codec: Arc<souk_runtime::codec::Codec>,
    bootstrap: String,
    pool: PgPool,
    tenant: String,
}

/// One record to produce: logical topic, key, encoded value.
type Out = (String, String, Vec<u8>);

impl Setup {
    fn env(&self, id: &str, at: i64) -> Envelope {
        Envelope::external(&self.tenant, id, T0 + at)
    }

    async fn record<T: Serialize>(&self, topic: &str, customer: &str, value: &T) -> Out {
        let topic = self.topology.topic(topic);
        let json = serde_json::to_value(value).expect("json");
        let bytes = self.codec.encode_json(&topic, &json).await.expect("encode");
        (topic, format!("{}|{customer}", self.tenant), bytes)
    }

    async fn produce(&self, records: Vec<Out>) {
        let p = producer(&self.bootstrap).expect("producer");
        let out = records.into_iter().map(|(topic, key, payload)| OutRecord { topic, partition: None, key: Some(key), payload: Some(payload), headers: make_headers(&[]) }).collect();
        send_all(&p, out).await.expect("produce");
    }

    fn topic_end(&self) -> i64 {
        INPUTS
            .iter()
            .flat_map(|t| (0..self.topology.partitions(t)).map(move |p| (self.topology.topic(t), p)))
            .map(|(topic, p)| souk_runtime::testkit::watermarks(&self.bootstrap, &topic, p).expect("watermarks").1)
            .sum()
    }

    fn topics(&self) -> Vec<String> {
        INPUTS.iter().map(|t| self.topology.topic(t)).collect()
    }

    async fn stored(&self) -> i64 {
        let topics = self.topics();
        souk_projections::sink_offsets(&self.pool, SINK).await.expect("sink_offsets").iter().filter(|r| topics.contains(&r.topic)).map(|r| r.next_offset).sum()
    }

    /// Runs the public entry point until its stored offsets reach the end of every input, then stops it.
    async fn run_to_end(&self) {
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let (topology, codec, pool, bootstrap) = (self.topology.clone(), self.codec.clone(), self.pool.clone(), self.bootstrap.clone());
        let handle = tokio::spawn(async move { run_commerce_sink(&topology, SINK, &bootstrap, codec, pool, shutdown).await });
        let end = tokio::task::block_in_place(|| self.topic_end());
        let started = Instant::now();
        while self.stored().await < end {
            assert!(started.elapsed() < Duration::from_secs(120), "sink did not reach {end} (at {})", self.stored().await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(self.stored().await, end, "stored offsets equal the end of the inputs");
        stop.send(true).expect("stop");
        handle.await.expect("join").expect("run_commerce_sink");
    }

    /// Every row of the tenant in every commerce table, as JSON, in a stable order.
    async fn snapshot(&self) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        for table in TABLES {
            let mut rows: Vec<String> = sqlx::query_scalar(&format!("SELECT to_jsonb(t)::text FROM {table} t WHERE tenant_id = $1")).bind(&self.tenant).fetch_all(&self.pool).await.expect("snapshot");
            rows.sort();
            out.push((table.to_string(), rows));
        }
        out
    }
}

async fn setup() -> Setup {
    souk_runtime::testkit::require_stack("sink_postgres_commerce").await;
    let prefix = unique_prefix("sinkcom");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../topology.toml")).expect("topology.toml");
    let topology = Topology::parse(&text, &prefix).expect("topology");
    let catalog = Catalog::builtin().expect("catalog");
    let (bootstrap, registry) = (stack::kafka_bootstrap(), stack::schema_registry_url());
    souk_runtime::testkit::with_retries("topology apply", || admin::apply(&topology, &catalog, &bootstrap, &registry)).await.expect("topology apply on the local stack");
    let codec = Arc::new(stack::codec_for(&topology, &catalog, &stack::schema_registry_url()).expect("codec"));
    let pool = PgPool::connect(&stack::database_url()).await.expect("postgres");
    souk_projections::migrate(&pool).await.expect("migrate");
    let tenant = format!("tenant-{}", prefix.trim_end_matches('.'));
    Setup { topology, codec, bootstrap, pool, tenant }
}

fn line(status: &str, hold_status: Option<&str>) -> OrderLine {
    OrderLine {
        line_id: "line-1".into(),
        material: "cotton".into(),
        color: "blue".into(),
        requested_meters: d("20.000"),
        normalized_meters: d("20.000"),
        status: status.into(),
        replaced_by: None,
        inventory_status: Some("FULL_AVAILABLE".into()),
        available_meters: Some(d("20.000")),
        price_per_meter: Some(d("125.50")),
        hold_id: hold_status.map(|_| "hold-1".into()),
        hold_status: hold_status.map(str::to_string),
        allocations: vec![BatchAllocation { batch_id: "b1".into(), rolls: 2, loose_meters: d("0"), cut_meters: d("0"), meters: d("20.000") }],
        alternatives: vec![],
    }
}

impl Setup {
    #[allow(clippy::too_many_arguments)] // one positional builder per snapshot keeps the story readable
    fn order(&self, id: &str, at: i64, order_id: &str, customer: &str, state: &str, prev: Option<&str>, wamid: Option<&str>, line: OrderLine) -> OrderEvent {
        OrderEvent::OrderUpdated(OrderUpdated {
            envelope: self.env(id, at),
            order_id: order_id.into(),
            customer: customer.into(),
            state: state.into(),
            previous_state: prev.map(str::to_string),
            cause: "test".into(),
            cause_wamid: wamid.map(str::to_string),
            lines: vec![line],
            negotiation_turns: 0,
            unknown_streak: 0,
            opened_at: T0,
            subtotal: Some(d("2510.00")),
        })
    }

    fn inbound(&self, wamid: &str, customer: &str, at: i64, text: &str, reply_id: Option<&str>) -> InboundMessage {
        InboundMessage {
            envelope: self.env(wamid, at),
            phone_number_id: "1001".into(),
            wa_id: customer.into(),
            profile_name: Some("Asha".into()),
            wamid: wamid.into(),
            sent_at: T0 + at,
            kind: if reply_id.is_some() { "button_reply" } else { "text" }.into(),
            message_type: "interactive".into(),
            text: Some(text.into()),
            reply_id: reply_id.map(str::to_string),
            context_wamid: None,
            raw_json: "{}".into(),
        }
    }

    fn outbound(&self, id: &str, at: i64, customer: &str, order_id: Option<&str>, text: &str) -> OutboundMessageRequested {
        OutboundMessageRequested {
            envelope: self.env(id, at),
            to: customer.into(),
            order_id: order_id.map(str::to_string),
            purpose: "summary".into(),
            text: text.into(),
            buttons: vec![ReplyButton { id: "CONFIRM".into(), title: "Confirm".into() }],
        }
    }

    fn status(&self, id: &str, at: i64, wamid: &str, status: &str) -> StatusEvent {
        StatusEvent::DeliveryStatus(DeliveryStatus {
            envelope: self.env(id, at),
            phone_number_id: "1001".into(),
            wamid: wamid.into(),
            recipient_id: ASHA.into(),
            status: status.into(),
            status_at: T0 + at,
            errors: vec![],
            callback_data: None,
        })
    }

    fn dispatched(&self, id: &str, at: i64, request: &OutboundMessageRequested, wamid: &str) -> StatusEvent {
        StatusEvent::OutboundDispatched(OutboundDispatched {
            envelope: self.env(id, at),
            request_event_id: request.envelope.event_id.clone(),
            to: request.to.clone(),
            wamid: wamid.into(),
            attempts: 1,
        })
    }

    fn outcome(&self, id: &str, at: i64, command_id: &str, order_id: &str, accepted: bool, code: Option<&str>) -> OrderEvent {
        OrderEvent::CommandOutcome(CommandOutcome {
            envelope: self.env(id, at),
            command_id: command_id.into(),
            order_id: order_id.into(),
            command: "APPROVE".into(),
            accepted,
            code: code.map(str::to_string),
            detail: "test".into(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn entry(&self, id: &str, at: i64, kind: &str, reference: &str, amount: &str, paid: &str, outstanding: &str) -> LedgerEvent {
        LedgerEvent::LedgerEntryAppended(LedgerEntryAppended {
            envelope: self.env(id, at),
            entry_id: id.into(),
            customer: ASHA.into(),
            kind: kind.into(),
            reference: reference.into(),
            invoice_number: (kind == "INVOICE").then(|| "INV-000001".into()),
            amount: d(amount),
            total_invoiced: d("2635.50"),
            total_paid: d(paid),
            outstanding: d(outstanding),
        })
    }
}

/// Asha orders, confirms and waits; Ravi's order waits too. Replies are sent and read.
async fn first_half(s: &Setup) -> (Vec<Out>, OutboundMessageRequested) {
    let summary = s.outbound("out-summary", 2, ASHA, Some("ord-1"), "20 m blue cotton, ₹2510.00. Confirm?");
    let out = vec![
        s.record("whatsapp.inbound", ASHA, &s.inbound("wamid.in1", ASHA, 0, "20m blue cotton", None)).await,
        s.record("orders.events", ASHA, &s.order("u1", 1, "ord-1", ASHA, "FINAL_CUSTOMER_CONFIRMATION", Some("COLLECTING_ITEMS"), Some("wamid.in1"), line("ACCEPTED", None))).await,
        s.record("whatsapp.outbound", ASHA, &summary).await,
        s.record("whatsapp.status", ASHA, &s.dispatched("disp-1", 3, &summary, "wamid.out1")).await,
        s.record("whatsapp.status", ASHA, &s.status("st-1", 4, "wamid.out1", "delivered")).await,
        s.record("whatsapp.inbound", ASHA, &s.inbound("wamid.in2", ASHA, 5, "Confirm", Some("CONFIRM"))).await,
        s.record("orders.events", ASHA, &s.order("u2", 6, "ord-1", ASHA, "WAITING_OWNER_CONFIRMATION", Some("FINAL_CUSTOMER_CONFIRMATION"), Some("wamid.in2"), line("ACCEPTED", Some("HELD")))).await,
        s.record("whatsapp.status", ASHA, &s.status("st-2", 7, "wamid.out1", "read")).await,
        // A late "delivered" after "read" must not move the status back.
        s.record("whatsapp.status", ASHA, &s.status("st-3", 8, "wamid.out1", "delivered")).await,
        s.record("orders.events", RAVI, &s.order("r1", 9, "ord-2", RAVI, "WAITING_OWNER_CONFIRMATION", Some("FINAL_CUSTOMER_CONFIRMATION"), None, line("ACCEPTED", Some("HELD")))).await,
    ];
    (out, summary)
}

/// Approve Asha's order (then a double click), reject Ravi's, invoice, ledger, payment, escalation.
async fn second_half(s: &Setup) -> Vec<Out> {
    let approved = s.outbound("out-approved", 19, ASHA, Some("ord-1"), "Order approved. Invoice #INV-000001.");
    let lost = s.outbound("out-lost", 21, ASHA, None, "Payment received, thank you.");
    let invoice = InvoiceIssued {
        envelope: s.env("inv-1", 13),
        invoice_id: "inv-id-1".into(),
        invoice_number: "INV-000001".into(),
        order_id: "ord-1".into(),
        customer: ASHA.into(),
        lines: vec![InvoiceLine { line_id: "line-1".into(), material: "cotton".into(), color: "blue".into(), meters: d("20.000"), price_per_meter: d("125.50"), amount: d("2510.00") }],
        subtotal: d("2510.00"),
        gst_rate: d("0.0500"),
        gst_amount: d("125.50"),
        total: d("2635.50"),
        issued_at: T0 + 13,
        reminder_days: 7,
    };
    let payment = |id: &str, amount: &str| PaymentRecorded {
        envelope: s.env(id, 15),
        payment_id: "pay-1".into(),
        customer: ASHA.into(),
        amount: d(amount),
        method: Some("UPI".into()),
        reference: Some("upi-ref".into()),
    };
    let tick = LedgerInput::Tick(Tick { envelope: Envelope::external("*", "tick", T0), partition: 0 });
    let tick_key = "*|tick".to_string();
    let mut out = vec![
        s.record("orders.events", ASHA, &s.outcome("c1", 10, "cmd-1", "ord-1", true, None)).await,
        s.record("orders.events", ASHA, &s.order("u3", 11, "ord-1", ASHA, "ORDER_COMPLETED", Some("WAITING_OWNER_CONFIRMATION"), None, line("ACCEPTED", Some("COMMITTED")))).await,
        s.record("orders.events", ASHA, &s.outcome("c2", 12, "cmd-2", "ord-1", false, Some("INVALID_STATE"))).await,
        s.record("orders.events", RAVI, &s.order("r2", 12, "ord-2", RAVI, "ORDER_REJECTED", Some("WAITING_OWNER_CONFIRMATION"), None, line("ACCEPTED", Some("RELEASED")))).await,
        // Ravi's next order opens at the same stream time as the rejection: the later snapshot is newer.
        s.record("orders.events", RAVI, &s.order("r3", 12, "ord-3", RAVI, "FINAL_CUSTOMER_CONFIRMATION", None, None, line("ACCEPTED", None))).await,
        s.record("ledger.inputs", ASHA, &LedgerInput::InvoiceIssued(invoice)).await,
        s.record("ledger.events", ASHA, &s.entry("le-1", 14, "INVOICE", "inv-id-1", "2635.50", "0", "2635.50")).await,
        s.record("ledger.inputs", ASHA, &LedgerInput::PaymentRecorded(payment("pay-a", "1000.00"))).await,
        // The same payment recorded twice (different amount): the first one wins.
        s.record("ledger.inputs", ASHA, &LedgerInput::PaymentRecorded(payment("pay-b", "999.00"))).await,
        s.record("ledger.events", ASHA, &s.entry("le-2", 16, "PAYMENT", "pay-1", "1000.00", "1000.00", "1635.50")).await,
        s.record(
            "escalations",
            ASHA,
            &EscalationRaised {
                envelope: s.env("esc", 17),
                escalation_id: "esc-1".into(),
                customer: Some(ASHA.into()),
                order_id: Some("ord-1".into()),
                kind: "stock".into(),
                priority: "high".into(),
                detail: "hold expired before approval".into(),
            },
        )
        .await,
        // The dispatch result of the approval reply is produced before the reply itself.
        s.record("whatsapp.status", ASHA, &s.dispatched("disp-2", 20, &approved, "wamid.out2")).await,
        s.record("whatsapp.outbound", ASHA, &approved).await,
        s.record("whatsapp.outbound", ASHA, &lost).await,
        s.record(
            "whatsapp.status",
            ASHA,
            &StatusEvent::OutboundFailed(OutboundFailed {
                envelope: s.env("fail-1", 22),
                request_event_id: lost.envelope.event_id.clone(),
                to: ASHA.into(),
                http_status: Some(400),
                error_code: Some(131047),
                reason: "re-engagement window closed".into(),
                attempts: 3,
            }),
        )
        .await,
        s.record(
            "ledger.events",
            ASHA,
            &LedgerEvent::PaymentReminderDue(PaymentReminderDue {
                envelope: s.env("rem-1", 23),
                customer: ASHA.into(),
                outstanding: d("1635.50"),
                oldest_unpaid_invoice: "INV-000001".into(),
                days_overdue: 7,
            }),
        )
        .await,
    ];
    // Two replies decided at the same stream time, produced in the order opposite to their ids'.
    let mut tied = [s.outbound("out-tie-1", 25, RAVI, None, ""), s.outbound("out-tie-2", 25, RAVI, None, "")];
    tied.sort_by(|a, b| b.envelope.event_id.cmp(&a.envelope.event_id));
    for (reply, text) in tied.iter_mut().zip(["decided first", "decided second"]) {
        reply.text = text.into();
        out.push(s.record("whatsapp.outbound", RAVI, reply).await);
    }
    let (topic, _, bytes) = s.record("ledger.inputs", ASHA, &tick).await;
    out.push((topic, tick_key, bytes));
    // A record whose key names another tenant is dead-lettered, never projected.
    let (topic, _, bytes) = s.record("whatsapp.inbound", ASHA, &s.inbound("wamid.bad", ASHA, 24, "x", None)).await;
    out.push((topic, format!("other-tenant|{ASHA}"), bytes));
    out
}

async fn assert_first_half(s: &Setup, summary: &OutboundMessageRequested) {
    let pending = queries::pending_approvals(&mut s.pool.acquire().await.unwrap(), &s.tenant).await.expect("pending");
    let ids: Vec<&str> = pending.iter().map(|p| p.order_id.as_str()).collect();
    assert_eq!(ids, ["ord-1", "ord-2"], "both waiting orders are pending approval");
    assert_eq!(pending[0].waiting_since.timestamp_millis(), T0 + 6);
    assert_eq!((pending[0].subtotal, pending[0].active_lines), (Some(d("2510.00")), 1));
    let session = queries::session(&mut s.pool.acquire().await.unwrap(), &s.tenant, ASHA).await.expect("session").expect("a session");
    assert_eq!((session.order_id.as_str(), session.state.as_str(), session.active), ("ord-1", "WAITING_OWNER_CONFIRMATION", true));
    let log = queries::messages(&mut s.pool.acquire().await.unwrap(), &s.tenant, &MessageFilter { customer: Some(ASHA.into()), ..Default::default() }).await.expect("messages");
    let view: Vec<(&str, &str, Option<&str>, &str)> = log.iter().map(|m| (m.message_id.as_str(), m.direction.as_str(), m.order_id.as_deref(), m.status.as_str())).collect();
    let summary_id = summary.envelope.event_id.as_str();
    assert_eq!(view, [("wamid.in1", "in", Some("ord-1"), "received"), (summary_id, "out", Some("ord-1"), "read"), ("wamid.in2", "in", Some("ord-1"), "received"),]);
    assert_eq!(log[1].wamid.as_deref(), Some("wamid.out1"));
    assert_eq!(log[1].buttons, serde_json::json!([{ "id": "CONFIRM", "title": "Confirm" }]));
    assert_eq!(log[2].buttons, serde_json::json!([{ "id": "CONFIRM", "title": "Confirm" }]), "the chosen reply");
}

async fn assert_second_half(s: &Setup) {
    assert!(queries::pending_approvals(&mut s.pool.acquire().await.unwrap(), &s.tenant).await.expect("pending").is_empty(), "approved and rejected orders left the pending approvals");
    let detail = queries::order_detail(&mut s.pool.acquire().await.unwrap(), &s.tenant, "ord-1").await.expect("detail").expect("ord-1");
    assert_eq!((detail.order.state.as_str(), detail.order.customer.as_str()), ("ORDER_COMPLETED", ASHA));
    assert_eq!(detail.lines.len(), 1);
    assert_eq!((detail.lines[0].hold_status.as_deref(), detail.lines[0].requested_meters), (Some("COMMITTED"), d("20.000")));
    assert_eq!(detail.lines[0].allocations[0]["meters"], "20.000", "decimals stay exact strings in JSONB");
    let invoice = detail.invoice.expect("invoice");
    assert_eq!((invoice.subtotal, invoice.gst_rate, invoice.gst_amount, invoice.total), (d("2510.00"), d("0.0500"), d("125.50"), d("2635.50")));
    assert_eq!(invoice.total.to_string(), "2635.50");
    let kinds: Vec<&str> = detail.history.iter().map(|h| h.kind.as_str()).collect();
    assert_eq!(kinds, ["ORDER_UPDATED", "MESSAGE_OUT", "ORDER_UPDATED", "COMMAND_OUTCOME", "ORDER_UPDATED", "COMMAND_OUTCOME", "INVOICE_ISSUED", "ESCALATION_RAISED", "MESSAGE_OUT"]);
    let ravi = queries::order(&mut s.pool.acquire().await.unwrap(), &s.tenant, "ord-2").await.expect("ord-2").expect("ord-2");
    assert_eq!(ravi.state, "ORDER_REJECTED");
    let session = queries::session(&mut s.pool.acquire().await.unwrap(), &s.tenant, ASHA).await.expect("session").expect("a session");
    assert_eq!((session.state.as_str(), session.active), ("ORDER_COMPLETED", false));
    let second = queries::command_outcome(&mut s.pool.acquire().await.unwrap(), &s.tenant, "cmd-2").await.expect("cmd-2").expect("outcome");
    assert_eq!((second.accepted, second.code.as_deref()), (false, Some("INVALID_STATE")));
    assert!(queries::command_outcome(&mut s.pool.acquire().await.unwrap(), &s.tenant, "cmd-1").await.expect("cmd-1").expect("outcome").accepted);
    let ledger = queries::ledger(&mut s.pool.acquire().await.unwrap(), &s.tenant, ASHA).await.expect("ledger");
    let balance = ledger.balance.expect("balance");
    assert_eq!((balance.total_invoiced, balance.total_paid, balance.outstanding), (d("2635.50"), d("1000.00"), d("1635.50")));
    assert_eq!(ledger.entries.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["INVOICE", "PAYMENT"]);
    assert_eq!(ledger.payments.len(), 1);
    assert_eq!(ledger.payments[0].amount, d("1000.00"), "the first record of a payment id wins");
    assert_eq!(queries::payment_reminders(&mut s.pool.acquire().await.unwrap(), &s.tenant, ASHA).await.expect("reminders").len(), 1);
    let escalations = queries::escalations(&mut s.pool.acquire().await.unwrap(), &s.tenant, &queries::EscalationFilter { status: Some("pending"), ..Default::default() }).await.expect("escalations");
    assert_eq!(escalations.iter().map(|e| e.escalation_id.as_str()).collect::<Vec<_>>(), ["esc-1"]);
    let log = queries::messages(&mut s.pool.acquire().await.unwrap(), &s.tenant, &MessageFilter { order_id: Some("ord-1".into()), ..Default::default() }).await.expect("messages");
    assert_eq!(log.len(), 4, "two inbound and two outbound messages about ord-1: {log:#?}");
    let approved = log.last().expect("approval reply");
    assert_eq!((approved.direction.as_str(), approved.status.as_str(), approved.wamid.as_deref()), ("out", "sent", Some("wamid.out2")));
    assert_eq!(approved.text.as_deref(), Some("Order approved. Invoice #INV-000001."), "completed although its dispatch result came first");
    let all = queries::messages(&mut s.pool.acquire().await.unwrap(), &s.tenant, &MessageFilter::default()).await.expect("messages");
    let lost = all.iter().find(|m| m.text.as_deref() == Some("Payment received, thank you.")).expect("failed reply");
    assert_eq!(lost.status, "failed");
    assert_eq!(lost.error.as_ref().expect("error")["error_code"], 131047);
    assert!(all.iter().all(|m| m.message_id != "wamid.bad"), "the other tenant's record was dead-lettered");
    let ravis = queries::orders(&mut s.pool.acquire().await.unwrap(), &s.tenant, &OrderFilter { customer: Some(RAVI.into()), ..Default::default() }).await.expect("orders");
    assert_eq!(ravis.iter().map(|o| o.order_id.as_str()).collect::<Vec<_>>(), ["ord-3", "ord-2"], "same updated_at: the later snapshot is the latest order");
    let ravi = queries::messages(&mut s.pool.acquire().await.unwrap(), &s.tenant, &MessageFilter { customer: Some(RAVI.into()), ..Default::default() }).await.expect("messages");
    let texts: Vec<&str> = ravi.iter().filter_map(|m| m.text.as_deref()).collect();
    assert_eq!(texts, ["decided first", "decided second"], "replies sharing occurred_at keep their partition's order");
    let waiting = queries::orders(&mut s.pool.acquire().await.unwrap(), &s.tenant, &OrderFilter { state: Some("ORDER_REJECTED".into()), ..Default::default() }).await.expect("orders");
    assert_eq!(waiting.iter().map(|o| o.order_id.as_str()).collect::<Vec<_>>(), ["ord-2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commerce_sink_projects_a_conversation_and_replays_idempotently() {
    let _ = tracing_subscriber::fmt().with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "souk_sinks=info".into())).with_test_writer().try_init();
    let s = setup().await;

    let (first, summary) = first_half(&s).await;
    s.produce(first).await;
    s.run_to_end().await;
    assert_first_half(&s, &summary).await;

    // The sink was stopped; the rest of the conversation arrives and a new instance picks it up
    // from the stored offsets.
    s.produce(second_half(&s).await).await;
    s.run_to_end().await;
    assert_second_half(&s).await;
    let rows = s.snapshot().await;

    // Forget the offsets: the whole log is applied again over the existing rows.
    sqlx::query("DELETE FROM sink_offsets WHERE sink = $1 AND topic = ANY($2)").bind(SINK).bind(s.topics()).execute(&s.pool).await.expect("reset offsets");
    s.run_to_end().await;
    assert_eq!(s.snapshot().await, rows, "re-applying every record leaves every row unchanged");
    assert_second_half(&s).await;
}
