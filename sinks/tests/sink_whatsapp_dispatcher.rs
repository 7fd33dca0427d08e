//! The WhatsApp dispatcher on the real local stack against `RecordingWhatsApp`, with the real
//! gateway taking the Cloud API's status webhooks:
//! - each request is sent once with its tenant's token, path, body and `biz_opaque_callback_data`
//!   (= its event id); a scripted 500 is retried (attempts = 2); a 131047 becomes OutboundFailed +
//!   an OUTSIDE_WINDOW escalation + a dead letter at once; a restart sends only new requests, and
//!   a replay of already-sent requests sends nothing and re-emits identical results;
//! - a send whose answer times out after Meta accepted it is settled from the status webhook that
//!   carries its callback data (no second send), or resent once after the bounded wait when no
//!   status comes; a restarted dispatcher settles an interrupted send the same way;
//! - an outage (connection refused, then 503) is retried in order, through a restart, until the
//!   Cloud API is back — every reply once, nothing failed — and only a message whose 24-hour
//!   window closes during the outage fails, escalates and is dead-lettered.
//!
//! Needs `./dev up` (SOUK_KAFKA_BOOTSTRAP, SOUK_SCHEMA_REGISTRY_URL, SOUK_DATABASE_URL).

mod support;

use souk_runtime::stack;
use souk_runtime::tenants::{Secret, Tenant, Tenants};
use souk_runtime::testkit::{read_to_end, ReadRecord};
use souk_schemas::orders::{EscalationEvent, EscalationRaised};
use souk_schemas::whatsapp::{OutboundMessageRequested, ReplyButton, StatusEvent};
use souk_schemas::Envelope;
use souk_sinks::whatsapp::{run_whatsapp_dispatcher, DispatcherSettings, RecordedRequest, RecordingWhatsApp, ScriptedFailure};
use souk_sinks::wire::Bare;
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::Stack;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const SINK: &str = "whatsapp-dispatcher";
const APP_SECRET: &str = "s";

fn tenant(id: &str) -> Tenant {
    Tenant {
        id: id.into(),
        name: id.into(),
        phone_number_id: format!("{id}-num"),
        app_secret: Secret::new(APP_SECRET),
        verify_token: Secret::new("v"),
        api_key: Secret::new(format!("key-{id}")),
        access_token: Secret::new(format!("token-{id}")),
        intent_confidence_threshold: None,
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn request(tenant: &str, n: &str, to: &str, buttons: usize) -> (String, OutboundMessageRequested) {
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
fn quick(base_url: &str) -> DispatcherSettings {
    DispatcherSettings { base_url: base_url.into(), backoff: Duration::from_millis(50), backoff_max: Duration::from_millis(500), settle_poll: Duration::from_millis(200), ..Default::default() }
}

/// The stack, the ledger's database, the tenants and a gateway taking status webhooks.
struct Harness {
    s: Stack,
    pool: PgPool,
    tenants: Arc<Tenants>,
    a: String,
    webhook_url: String,
    _gateway: JoinHandle<()>,
}

/// A dispatcher running in the background.
struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
}

async fn harness(tag: &str) -> Option<Harness> {
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SOUK_LOG").unwrap_or_else(|_| "warn,souk_sinks=info,rdkafka=warn,librdkafka=warn".into())).with_test_writer().try_init();
    let s = support::stack(tag).await?;
    let a = format!("a{}", s.prefix.trim_end_matches('.').replace('.', ""));
    let pool = PgPool::connect(&stack::database_url()).await.expect("postgres");
    souk_projections::migrate(&pool).await.expect("migrations");
    let tenants = Arc::new(Tenants::from_list(vec![tenant(&a), tenant(&format!("b{a}"))]).expect("tenants"));
    use souk_producers::gateway::{router, GatewayState, KafkaPublisher, PgOrderDirectory};
    let publisher = Arc::new(KafkaPublisher::connect(&s.bootstrap, s.codec.clone(), &s.topology).expect("publisher"));
    let app = router(GatewayState::new(tenants.clone(), publisher, Arc::new(PgOrderDirectory::new(pool.clone()))));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("gateway port");
    let webhook_url = format!("http://{}/webhooks/whatsapp", listener.local_addr().expect("addr"));
    let gateway = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("gateway");
    });
    Some(Harness { s, pool, tenants, a, webhook_url, _gateway: gateway })
}

impl Harness {
    fn start(&self, settings: &DispatcherSettings) -> Running {
        let (stop, rx) = watch::channel(false);
        let (topology, codec, bootstrap, pool, tenants, settings) = (self.s.topology.clone(), self.s.codec.clone(), self.s.bootstrap.clone(), self.pool.clone(), self.tenants.clone(), settings.clone());
        let task = tokio::spawn(async move { run_whatsapp_dispatcher(&topology, SINK, &bootstrap, codec, pool, tenants, settings, rx).await });
        Running { stop, task }
    }

    async fn stored(&self) -> i64 {
        let topic = self.s.topology.topic("whatsapp.outbound");
        souk_projections::sink_offsets(&self.pool, SINK).await.expect("offsets").iter().filter(|r| r.topic == topic).map(|r| r.next_offset).sum()
    }

    /// Waits until the dispatcher stored offsets at the end of whatsapp.outbound.
    async fn caught_up(&self, running: &Running, within: Duration) {
        let end = tokio::task::block_in_place(|| self.s.topic_end("whatsapp.outbound"));
        let started = Instant::now();
        while self.stored().await < end {
            assert!(!running.task.is_finished(), "dispatcher stopped early");
            assert!(started.elapsed() < within, "dispatcher did not catch up within {within:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the dispatcher; returns how long it took.
    async fn stop(&self, running: Running) -> Duration {
        let asked = Instant::now();
        running.stop.send(true).expect("shutdown");
        tokio::time::timeout(Duration::from_secs(30), running.task).await.expect("stopped within 30 s").expect("join").expect("dispatcher ran cleanly");
        asked.elapsed()
    }

    async fn until_caught_up(&self, settings: &DispatcherSettings) {
        let running = self.start(settings);
        self.caught_up(&running, Duration::from_secs(120)).await;
        self.stop(running).await;
    }

    async fn read(&self, topic: &str) -> Vec<ReadRecord> {
        read_to_end(&self.s.bootstrap, &self.s.topology.topic(topic)).await.expect("read")
    }

    /// The dispatcher's results on whatsapp.status (Meta's own statuses left out).
    async fn results(&self) -> Vec<StatusEvent> {
        let mut out = Vec::new();
        for r in self.read("whatsapp.status").await {
            let e: StatusEvent = self.s.codec.decode(&r.payload.expect("value")).await.expect("decode status");
            if !matches!(e, StatusEvent::DeliveryStatus(_)) {
                out.push(e);
            }
        }
        out
    }

    async fn escalations(&self) -> Vec<EscalationRaised> {
        let mut out = Vec::new();
        for r in self.read("escalations").await {
            let e: Bare<EscalationRaised, EscalationEvent> = self.s.codec.decode(r.payload.as_deref().expect("value")).await.expect("decode");
            let EscalationEvent::EscalationRaised(e) = e.into_event(EscalationEvent::EscalationRaised);
            out.push(e);
        }
        out
    }

    async fn dead_letters(&self) -> Vec<ReadRecord> {
        read_to_end(&self.s.bootstrap, &self.s.topology.dlq_topic(SINK)).await.expect("dlq")
    }
}

fn to<'a>(sent: &'a [RecordedRequest], recipient: &str) -> Vec<&'a RecordedRequest> {
    sent.iter().filter(|r| r.to() == Some(recipient)).collect()
}

fn dispatched(results: &[StatusEvent], req: &OutboundMessageRequested) -> (String, i32) {
    let found = results.iter().find_map(|e| match e {
        StatusEvent::OutboundDispatched(d) if d.request_event_id == req.envelope.event_id => Some((d.wamid.clone(), d.attempts)),
        _ => None,
    });
    found.unwrap_or_else(|| panic!("no OutboundDispatched for {}: {results:#?}", req.text))
}

/// Nothing failed, escalated or dead-lettered.
async fn no_failures(h: &Harness) {
    let failed: Vec<_> = h.results().await.into_iter().filter(|e| matches!(e, StatusEvent::OutboundFailed(_))).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(h.escalations().await, vec![], "no escalation");
    assert_eq!(h.dead_letters().await.len(), 0, "no dead letter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dispatcher_sends_each_request_once_and_reports_the_result() {
    let Some(h) = harness("sinkwa").await else { return };
    let (a, b) = (h.a.clone(), format!("b{}", h.a));
    let wa = RecordingWhatsApp::start().await.expect("recording server");
    wa.fail_to("9104", [ScriptedFailure::ServerError]);
    wa.fail_to("9105", [ScriptedFailure::outside_window()]);
    let settings = quick(&wa.base_url());
    let reqs = vec![request(&a, "r1", "9101", 0), request(&a, "r2", "9102", 3), request(&b, "r3", "9201", 0), request(&a, "r4", "9104", 0), request(&a, "r5", "9105", 1)];
    h.s.produce("whatsapp.outbound", &reqs).await;
    h.until_caught_up(&settings).await;

    // HTTP: r1..r4 accepted once each (r4 after one 500), r5 refused once.
    let sent = wa.requests();
    assert_eq!(sent.len(), 6, "{sent:#?}");
    let delivered = wa.delivered();
    let recipients: BTreeSet<&str> = delivered.iter().filter_map(|r| r.to()).collect();
    assert_eq!(delivered.len(), 4);
    assert_eq!(recipients, BTreeSet::from(["9101", "9102", "9104", "9201"]));
    for (_, req) in &reqs {
        let mine = to(&sent, &req.to);
        let t = &req.envelope.tenant_id;
        for r in &mine {
            assert_eq!(r.bearer(), Some(format!("token-{t}").as_str()));
            assert_eq!(r.path, format!("/v21.0/{t}-num/messages"));
            assert_eq!(r.headers.get("x-souk-request-id"), Some(&req.envelope.event_id));
            assert_eq!(r.callback_data(), Some(req.envelope.event_id.as_str()), "biz_opaque_callback_data is the request's event id");
            assert_eq!(r.body["messaging_product"], "whatsapp");
        }
        assert_eq!(mine.len(), if req.to == "9104" { 2 } else { 1 }, "requests to {}", req.to);
    }
    let r2 = to(&sent, "9102")[0];
    assert_eq!(r2.body["type"], "interactive");
    assert_eq!(r2.body["interactive"]["action"]["buttons"].as_array().map(Vec::len), Some(3));
    assert_eq!(r2.body["interactive"]["action"]["buttons"][0], serde_json::json!({"type": "reply", "reply": {"id": "confirm", "title": "Confirm"}}));
    assert_eq!(to(&sent, "9101")[0].body["text"]["body"], "message r1");

    // Results on whatsapp.status.
    let statuses = h.results().await;
    assert_eq!(statuses.len(), 5);
    for st in &statuses {
        match st {
            StatusEvent::OutboundDispatched(d) => {
                let rec = delivered.iter().find(|r| r.to() == Some(d.to.as_str())).expect("delivered");
                assert_eq!(Some(d.wamid.as_str()), rec.wamid.as_deref());
                assert_eq!(d.attempts, if d.to == "9104" { 2 } else { 1 });
            }
            StatusEvent::OutboundFailed(f) => {
                assert_eq!((f.to.as_str(), f.error_code, f.http_status, f.attempts), ("9105", Some(131047), Some(400), 1));
                assert_eq!(f.request_event_id, reqs[4].1.envelope.event_id);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let escalations = h.read("escalations").await;
    assert_eq!(escalations.len(), 1);
    let esc = &h.escalations().await[0];
    assert_eq!((esc.kind.as_str(), esc.priority.as_str(), esc.customer.as_deref(), esc.order_id.as_deref()), ("OUTSIDE_WINDOW", "medium", Some("9105"), Some("o-r5")));
    assert_eq!(escalations[0].key.as_deref(), Some(format!("{a}|9105").as_str()));
    let dlq = h.dead_letters().await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].headers.get("souk-source-topic"), Some(&h.s.topology.topic("whatsapp.outbound")));
    assert!(dlq[0].headers.get("souk-error").is_some_and(|e| e.contains("131047")), "{:?}", dlq[0].headers);
    let ledger = souk_projections::outbound::outbound_dispatches(&h.pool, &a).await.expect("ledger");
    assert_eq!(ledger.iter().filter(|r| r.status == "SENT").count(), 3);
    assert_eq!(ledger.iter().filter(|r| r.status == "FAILED").count(), 1);

    // A restart sends only what is new.
    h.s.produce("whatsapp.outbound", &[request(&b, "r6", "9202", 0)]).await;
    h.until_caught_up(&settings).await;
    assert_eq!(wa.requests().len(), 7);
    assert_eq!(wa.requests().last().and_then(|r| r.to().map(str::to_string)).as_deref(), Some("9202"));

    // A crash after sending but before the offsets moved: the replay sends nothing and re-emits
    // the same results (same event ids).
    let before: BTreeSet<String> = h.results().await.iter().map(|e| souk_schemas::StreamEvent::envelope(e).event_id.clone()).collect();
    sqlx::query("DELETE FROM sink_offsets WHERE sink = $1 AND topic = $2").bind(SINK).bind(h.s.topology.topic("whatsapp.outbound")).execute(&h.pool).await.expect("forget offsets");
    h.until_caught_up(&settings).await;
    assert_eq!(wa.requests().len(), 7, "nothing resent");
    let after = h.results().await;
    assert_eq!(after.len(), 12, "every result re-emitted once");
    let ids: BTreeSet<String> = after.iter().map(|e| souk_schemas::StreamEvent::envelope(e).event_id.clone()).collect();
    assert_eq!(ids, before, "re-emitted results carry the same ids");
}

/// Meta accepts the message and reports its `sent` status with the callback data, but the HTTP
/// answer never arrives: the dispatcher must not send it again; the status settles it, and the
/// customer's next reply goes out after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unknown_outcome_is_settled_by_its_status_webhook_without_a_resend() {
    let Some(h) = harness("sinkwaunk").await else { return };
    let wa = RecordingWhatsApp::start().await.expect("recording server");
    wa.report_statuses_to(&h.webhook_url, APP_SECRET);
    wa.fail_to("9301", [ScriptedFailure::AcceptThenHang { report_status: true }]);
    let settle_wait = Duration::from_secs(40);
    let settings = DispatcherSettings { request_timeout: Duration::from_secs(1), settle_wait, ..quick(&wa.base_url()) };
    let reqs = vec![request(&h.a, "u1", "9301", 0), request(&h.a, "u2", "9301", 1), request(&h.a, "u3", "9302", 0)];
    h.s.produce("whatsapp.outbound", &reqs).await;
    let started = Instant::now();
    let running = h.start(&settings);
    h.caught_up(&running, Duration::from_secs(60)).await;
    let took = started.elapsed();
    h.stop(running).await;

    let sent = wa.requests();
    let texts: Vec<_> = to(&sent, "9301").iter().map(|r| r.text().unwrap_or_default().to_string()).collect();
    assert_eq!(texts, ["message u1", "message u2"], "each once, in order: {sent:#?}");
    assert!(to(&sent, "9301")[0].answer_lost);
    assert!(took < settle_wait, "settled by the status ({took:?}), not by the {settle_wait:?} wait");
    let results = h.results().await;
    let (wamid, attempts) = dispatched(&results, &reqs[0].1);
    assert_eq!((Some(wamid.as_str()), attempts), (to(&sent, "9301")[0].wamid.as_deref(), 1), "the wamid Meta reported for the lost answer");
    dispatched(&results, &reqs[1].1);
    dispatched(&results, &reqs[2].1);
    no_failures(&h).await;
    let ledger = souk_projections::outbound::outbound_dispatches(&h.pool, &h.a).await.expect("ledger");
    assert_eq!(ledger.iter().filter(|r| r.status == "SENT").count(), 3, "{ledger:#?}");
}

/// The answer is lost and so is the status webhook: the dispatcher waits the bounded time, then
/// sends once more with the same callback data.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unknown_outcome_without_a_status_is_resent_once_after_the_bounded_wait() {
    let Some(h) = harness("sinkwaunk2").await else { return };
    let wa = RecordingWhatsApp::start().await.expect("recording server");
    wa.report_statuses_to(&h.webhook_url, APP_SECRET);
    wa.fail_to("9401", [ScriptedFailure::AcceptThenHang { report_status: false }]);
    let settle_wait = Duration::from_secs(3);
    let settings = DispatcherSettings { request_timeout: Duration::from_secs(1), settle_wait, ..quick(&wa.base_url()) };
    let reqs = vec![request(&h.a, "w1", "9401", 0), request(&h.a, "w2", "9401", 0)];
    h.s.produce("whatsapp.outbound", &reqs).await;
    h.until_caught_up(&settings).await;

    let sent = wa.requests();
    let mine = to(&sent, "9401");
    let texts: Vec<_> = mine.iter().map(|r| r.text().unwrap_or_default()).collect();
    assert_eq!(texts, ["message w1", "message w1", "message w2"], "{sent:#?}");
    let id = reqs[0].1.envelope.event_id.as_str();
    assert_eq!((mine[0].callback_data(), mine[1].callback_data()), (Some(id), Some(id)), "the resend carries the same callback data");
    let gap = mine[1].at.duration_since(mine[0].at);
    assert!(gap >= settle_wait, "resent after {gap:?}, before the {settle_wait:?} settle wait");
    let results = h.results().await;
    assert_eq!(dispatched(&results, &reqs[0].1), (mine[1].wamid.clone().expect("wamid"), 2));
    no_failures(&h).await;
}

/// A crash while sending left SENDING rows: one whose status (with its callback data) is in the
/// log is settled without any HTTP call; the other is sent only after the bounded wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_dispatcher_settles_an_interrupted_send_before_resending() {
    let Some(h) = harness("sinkwarestart").await else { return };
    let wa = RecordingWhatsApp::start().await.expect("recording server");
    wa.report_statuses_to(&h.webhook_url, APP_SECRET);
    let settle_wait = Duration::from_secs(3);
    let settings = DispatcherSettings { settle_wait, ..quick(&wa.base_url()) };
    let reqs = vec![request(&h.a, "c1", "9601", 0), request(&h.a, "c2", "9602", 0)];
    for (_, r) in &reqs {
        sqlx::query("INSERT INTO outbound_dispatch (tenant_id, request_event_id, recipient, status, attempts, updated_at) VALUES ($1, $2, $3, 'SENDING', 1, now())")
            .bind(&r.envelope.tenant_id)
            .bind(&r.envelope.event_id)
            .bind(&r.to)
            .execute(&h.pool)
            .await
            .expect("interrupted send");
    }
    // Meta had accepted c1 before the crash and reports it.
    wa.report_status(&format!("{}-num", h.a), "wamid.before-crash", "9601", Some(&reqs[0].1.envelope.event_id)).await.expect("status webhook");
    h.s.produce("whatsapp.outbound", &reqs).await;
    let started = Instant::now();
    h.until_caught_up(&settings).await;

    let sent = wa.requests();
    assert_eq!(to(&sent, "9601").len(), 0, "c1 was settled from its status: {sent:#?}");
    let c2 = to(&sent, "9602");
    assert_eq!(c2.len(), 1, "{sent:#?}");
    assert!(c2[0].at.duration_since(started) >= settle_wait - Duration::from_millis(500), "c2 resent before the settle wait");
    let results = h.results().await;
    assert_eq!(dispatched(&results, &reqs[0].1), ("wamid.before-crash".to_string(), 1));
    assert_eq!(dispatched(&results, &reqs[1].1), (c2[0].wamid.clone().expect("wamid"), 2));
    no_failures(&h).await;
}

/// The Cloud API refuses connections, then answers 503, then comes back; the dispatcher is
/// restarted in the middle. Every reply arrives once, in order per customer; nothing fails, and
/// the liveness probe does not mistake the wait for a stall.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_is_retried_in_order_until_the_cloud_api_comes_back() {
    let Some(h) = harness("sinkwaout").await else { return };
    let addr = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
    let settings = DispatcherSettings { backoff: Duration::from_millis(100), backoff_max: Duration::from_secs(1), liveness_after: Duration::from_secs(4), ..quick(&format!("http://{addr}")) };
    let mut reqs = Vec::new();
    for i in 1..=4 {
        reqs.push(request(&h.a, &format!("o{i}"), "9501", 0));
    }
    reqs.push(request(&h.a, "p1", "9502", 0));
    reqs.push(request(&h.a, "p2", "9502", 0));
    h.s.produce("whatsapp.outbound", &reqs).await;
    let stalls = || souk_runtime::metrics::Metrics::global().stalls.with_label_values(&[SINK]).get();
    let stalls_before = stalls();

    // Connection refused for 4 s, with a restart (which must stop promptly while backing off).
    let running = h.start(&settings);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stop_took = h.stop(running).await;
    assert!(stop_took < Duration::from_secs(3), "shutdown took {stop_took:?} while backing off");
    let running = h.start(&settings);
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Then 503 for 7 s (the restarted run's probe, checking every 5 s, sees the partitions stuck
    // for 9 s: a stall after 4 s, were they not held on purpose), then up.
    let wa = RecordingWhatsApp::start_on(addr).await.expect("the Cloud API comes back on its address");
    wa.set_down(true);
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(!running.task.is_finished(), "the dispatcher keeps running through the outage");
    wa.set_down(false);
    h.caught_up(&running, Duration::from_secs(60)).await;
    h.stop(running).await;

    let sent = wa.requests();
    assert!(sent.iter().any(|r| r.answered == 503), "the 503 phase was hit: {sent:#?}");
    for (recipient, expected) in [("9501", vec!["message o1", "message o2", "message o3", "message o4"]), ("9502", vec!["message p1", "message p2"])] {
        let got: Vec<_> = wa.delivered().iter().filter(|r| r.to() == Some(recipient)).map(|r| r.text().unwrap_or_default().to_string()).collect();
        assert_eq!(got, expected, "every reply to {recipient} once, in order");
    }
    let results = h.results().await;
    for (_, r) in &reqs {
        dispatched(&results, r);
    }
    no_failures(&h).await;
    assert_eq!(stalls(), stalls_before, "a partition waiting out an outage is not a stall");
}

/// The Cloud API stays down: the message is retried until its delivery window closes, then it
/// fails, is escalated and dead-lettered — not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_past_the_delivery_window_fails_escalates_and_dead_letters() {
    let Some(h) = harness("sinkwawin").await else { return };
    let wa = RecordingWhatsApp::start().await.expect("recording server");
    wa.set_down(true);
    let window = Duration::from_secs(5);
    let settings = DispatcherSettings { delivery_window: window, backoff: Duration::from_millis(100), backoff_max: Duration::from_millis(500), ..quick(&wa.base_url()) };
    let reqs = vec![request(&h.a, "x1", "9701", 0)];
    let produced = Instant::now();
    h.s.produce("whatsapp.outbound", &reqs).await;
    h.until_caught_up(&settings).await;
    let failed_after = produced.elapsed();
    assert!(failed_after >= window, "failed {failed_after:?} after the request, before its {window:?} window closed");
    let sent = wa.requests();
    assert!(sent.len() >= 5, "retried for the whole window: {} attempts", sent.len());
    let last = sent.last().expect("attempts").at.duration_since(produced);
    assert!(last >= window - Duration::from_secs(2), "last attempt {last:?} after the request: it stopped retrying long before the window closed");

    let failed: Vec<_> = h.results().await.into_iter().filter_map(|e| if let StatusEvent::OutboundFailed(f) = e { Some(f) } else { None }).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].http_status, failed[0].error_code, failed[0].attempts as usize), (Some(503), Some(2), sent.len()));
    assert!(failed[0].reason.contains("window"), "{}", failed[0].reason);
    let escalations = h.escalations().await;
    assert_eq!(escalations.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["DELIVERY_FAILED"]);
    assert_eq!(h.dead_letters().await.len(), 1);
}
