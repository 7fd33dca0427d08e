//! The WhatsApp dispatcher's real-stack test harness: an isolated topology (`support`), the
//! ledger's database, two tenants, the real gateway taking the recording Cloud API's status
//! webhooks, a dispatcher running in the background, and readers of what it wrote.
#![allow(dead_code, unused_imports)]

use crate::support;
pub use crate::support::Stack;
pub use souk_runtime::stack;
pub use souk_runtime::tenants::{Secret, Tenant, Tenants};
pub use souk_runtime::testkit::{read_to_end, ReadRecord};
pub use souk_schemas::orders::{EscalationEvent, EscalationRaised};
pub use souk_schemas::whatsapp::{ConsentChanged, ConsentEvent, OutboundMessageRequested, ReplyButton, StatusEvent};
pub use souk_schemas::Envelope;
pub use souk_sinks::whatsapp::{run_whatsapp_dispatcher, DispatcherSettings, RecordedRequest, RecordingWhatsApp, ScriptedFailure};
pub use sqlx::PgPool;
pub use std::collections::BTreeSet;
pub use std::sync::Arc;
pub use std::time::{Duration, Instant};
pub use tokio::sync::watch;
pub use tokio::task::JoinHandle;

pub const SINK: &str = "whatsapp-dispatcher";
pub const APP_SECRET: &str = "s";

pub fn tenant(id: &str) -> Tenant {
    Tenant {
        id: id.into(),
        name: id.into(),
        phone_number_id: format!("{id}-num"),
        app_secret: Secret::new(APP_SECRET),
        verify_token: Secret::new("v"),
        api_key: Secret::new(format!("key-{id}")),
        access_token: Secret::new(format!("token-{id}")),
        intent_confidence_threshold: None,
        payments_secret_key: None,
        instagram: None,
        whatsapp_inbox: false,
        staff: vec![],
        rate_limits: None,
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn request(tenant: &str, n: &str, to: &str, buttons: usize) -> (String, OutboundMessageRequested) {
    let m = OutboundMessageRequested {
        envelope: Envelope::external(tenant, n, now_ms()),
        to: to.into(),
        order_id: Some(format!("o-{n}")),
        purpose: "summary".into(),
        text: format!("message {n}"),
        buttons: ["Confirm", "Edit", "Cancel"].iter().take(buttons).map(|t| ReplyButton { id: t.to_lowercase(), title: t.to_string() }).collect(),
    };
    (format!("{tenant}|{to}"), m)
}

/// Settings with short backoffs for tests.
pub fn quick(base_url: &str) -> DispatcherSettings {
    DispatcherSettings { base_url: base_url.into(), backoff: Duration::from_millis(50), backoff_max: Duration::from_millis(500), settle_poll: Duration::from_millis(200), ..Default::default() }
}

/// The stack, the ledger's database, the tenants and a gateway taking status webhooks.
pub struct Harness {
    pub s: Stack,
    pub pool: PgPool,
    pub tenants: Arc<Tenants>,
    pub a: String,
    pub webhook_url: String,
    pub _gateway: JoinHandle<()>,
}

/// A dispatcher running in the background.
pub struct Running {
    pub stop: watch::Sender<bool>,
    pub task: JoinHandle<anyhow::Result<()>>,
}

pub async fn harness(tag: &str) -> Harness {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SOUK_LOG").unwrap_or_else(|_| "warn,souk_sinks=info,rdkafka=warn,librdkafka=warn".into()))
        .with_test_writer()
        .try_init();
    let s = support::stack(tag).await;
    let a = format!("a{}", s.prefix.trim_end_matches('.').replace('.', ""));
    let pool = PgPool::connect(&stack::database_url()).await.expect("postgres");
    souk_projections::migrate(&pool).await.expect("migrations");
    let tenants = Arc::new(Tenants::from_list(vec![tenant(&a), tenant(&format!("b{a}"))]).expect("tenants"));
    use souk_producers::gateway::{router, GatewayState, KafkaPublisher, LogOrderDirectory};
    let publisher = Arc::new(KafkaPublisher::connect(&s.bootstrap, s.codec.clone(), &s.topology).expect("publisher"));
    let gateway = s.topology.component(souk_runtime::topology::Role::Producer, "gateway").expect("gateway spec");
    let orders = LogOrderDirectory::load(&s.bootstrap, s.codec.clone(), gateway.table("orders.directory").expect("table")).await.expect("order directory");
    let app = router(GatewayState::new(tenants.clone(), publisher, Arc::new(orders))).into_router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("gateway port");
    let webhook_url = format!("http://{}/webhooks/whatsapp", listener.local_addr().expect("addr"));
    let gateway = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("gateway");
    });
    Harness { s, pool, tenants, a, webhook_url, _gateway: gateway }
}

impl Harness {
    pub fn start(&self, settings: &DispatcherSettings) -> Running {
        let (stop, rx) = watch::channel(false);
        let (topology, codec, bootstrap, pool, tenants, settings) =
            (self.s.topology.clone(), self.s.codec.clone(), self.s.bootstrap.clone(), self.pool.clone(), self.tenants.clone(), settings.clone());
        let task = tokio::spawn(async move { run_whatsapp_dispatcher(&topology, SINK, &bootstrap, codec, pool, tenants, settings, rx).await });
        Running { stop, task }
    }

    /// Records that `wa_id` gave (or withdrew) consent to `tenant`'s messages, as the gateway does
    /// for a customer's message (`source` customer_message) or STOP / START (keyword).
    pub async fn consent(&self, tenant: &str, wa_id: &str, opted_in: bool, source: &str) {
        let c = ConsentChanged { envelope: Envelope::external(tenant, &format!("consent-{wa_id}-{source}-{opted_in}"), now_ms()), wa_id: wa_id.into(), opted_in, source: source.into() };
        self.s.produce("whatsapp.consent", &[(c.key(), ConsentEvent::ConsentChanged(c))]).await;
    }

    /// Records that every recipient of `reqs` wrote to its tenant (their consent, as the gateway
    /// records it for a customer's message).
    pub async fn consented(&self, reqs: &[(String, OutboundMessageRequested)]) {
        let consents: Vec<(String, ConsentEvent)> = reqs
            .iter()
            .map(|(_, r)| {
                let c = ConsentChanged {
                    envelope: Envelope::external(&r.envelope.tenant_id, &format!("consent-{}", r.to), now_ms()),
                    wa_id: r.to.clone(),
                    opted_in: true,
                    source: ConsentChanged::CUSTOMER_MESSAGE.into(),
                };
                (c.key(), ConsentEvent::ConsentChanged(c))
            })
            .collect();
        self.s.produce("whatsapp.consent", &consents).await;
    }

    /// Produces `reqs` to whatsapp.outbound, each recipient having written to its tenant first.
    pub async fn requests(&self, reqs: &[(String, OutboundMessageRequested)]) {
        self.consented(reqs).await;
        self.s.produce("whatsapp.outbound", reqs).await;
    }

    pub async fn stored(&self) -> i64 {
        let topic = self.s.topology.topic("whatsapp.outbound");
        souk_projections::sink_offsets(&self.pool, SINK).await.expect("offsets").iter().filter(|r| r.topic == topic).map(|r| r.next_offset).sum()
    }

    /// Waits until the dispatcher stored offsets at the end of whatsapp.outbound.
    pub async fn caught_up(&self, running: &Running, within: Duration) {
        let end = tokio::task::block_in_place(|| self.s.topic_end("whatsapp.outbound"));
        let started = Instant::now();
        while self.stored().await < end {
            assert!(!running.task.is_finished(), "dispatcher stopped early");
            assert!(started.elapsed() < within, "dispatcher did not catch up within {within:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the dispatcher; returns how long it took.
    pub async fn stop(&self, running: Running) -> Duration {
        let asked = Instant::now();
        running.stop.send(true).expect("shutdown");
        tokio::time::timeout(Duration::from_secs(30), running.task).await.expect("stopped within 30 s").expect("join").expect("dispatcher ran cleanly");
        asked.elapsed()
    }

    pub async fn until_caught_up(&self, settings: &DispatcherSettings) {
        let running = self.start(settings);
        self.caught_up(&running, Duration::from_secs(120)).await;
        self.stop(running).await;
    }

    pub async fn read(&self, topic: &str) -> Vec<ReadRecord> {
        read_to_end(&self.s.bootstrap, &self.s.topology.topic(topic)).await.expect("read")
    }

    /// The dispatcher's results on whatsapp.status (Meta's own statuses left out).
    pub async fn results(&self) -> Vec<StatusEvent> {
        let mut out = Vec::new();
        for r in self.read("whatsapp.status").await {
            let e: StatusEvent = self.s.codec.decode(&r.payload.expect("value")).await.expect("decode status");
            if !matches!(e, StatusEvent::DeliveryStatus(_)) {
                out.push(e);
            }
        }
        out
    }

    pub async fn escalations(&self) -> Vec<EscalationRaised> {
        let mut out = Vec::new();
        for r in self.read("escalations").await {
            let EscalationEvent::EscalationRaised(e) = self.s.codec.decode(r.payload.as_deref().expect("value")).await.expect("decode");
            out.push(e);
        }
        out
    }

    pub async fn dead_letters(&self) -> Vec<ReadRecord> {
        read_to_end(&self.s.bootstrap, &self.s.topology.dlq_topic(SINK)).await.expect("dlq")
    }
}

pub fn to<'a>(sent: &'a [RecordedRequest], recipient: &str) -> Vec<&'a RecordedRequest> {
    sent.iter().filter(|r| r.to() == Some(recipient)).collect()
}

pub fn dispatched(results: &[StatusEvent], req: &OutboundMessageRequested) -> (String, i32) {
    let found = results.iter().find_map(|e| match e {
        StatusEvent::OutboundDispatched(d) if d.request_event_id == req.envelope.event_id => Some((d.wamid.clone(), d.attempts)),
        _ => None,
    });
    found.unwrap_or_else(|| panic!("no OutboundDispatched for {}: {results:#?}", req.text))
}

/// Nothing failed, escalated or dead-lettered.
pub async fn no_failures(h: &Harness) {
    let failed: Vec<_> = h.results().await.into_iter().filter(|e| matches!(e, StatusEvent::OutboundFailed(_))).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(h.escalations().await, vec![], "no escalation");
    assert_eq!(h.dead_letters().await.len(), 0, "no dead letter");
}
