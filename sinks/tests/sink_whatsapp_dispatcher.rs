//! The WhatsApp dispatcher on the real local stack against `RecordingWhatsApp`: each request is
//! sent once with its tenant's token, path and body (text or reply buttons); a scripted 500 is
//! retried (attempts = 2); a 131047 becomes OutboundFailed + an OUTSIDE_WINDOW escalation + a dead
//! letter; a restart sends only new requests, and a replay of already-sent requests (offsets lost,
//! as after a crash before the offset commit) sends nothing and re-emits identical results.
//! Needs `./dev up` (SOUK_KAFKA_BOOTSTRAP, SOUK_SCHEMA_REGISTRY_URL, SOUK_DATABASE_URL).

mod support;

use souk_runtime::stack;
use souk_runtime::tenants::{Secret, Tenant, Tenants};
use souk_runtime::testkit::read_to_end;
use souk_schemas::orders::{EscalationEvent, EscalationRaised};
use souk_schemas::whatsapp::{OutboundMessageRequested, ReplyButton, StatusEvent};
use souk_schemas::Envelope;
use souk_sinks::whatsapp::{run_whatsapp_dispatcher, DispatcherSettings, RecordingWhatsApp, ScriptedFailure};
use souk_sinks::wire::Bare;
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::Stack;

const SINK: &str = "whatsapp-dispatcher";

fn tenant(id: &str, number: &str) -> Tenant {
    Tenant {
        id: id.into(),
        name: id.into(),
        phone_number_id: number.into(),
        app_secret: Secret::new("s"),
        verify_token: Secret::new("v"),
        api_key: Secret::new(format!("key-{id}")),
        access_token: Secret::new(format!("token-{id}")),
        intent_confidence_threshold: None,
    }
}

fn request(tenant: &str, n: &str, to: &str, buttons: usize) -> (String, OutboundMessageRequested) {
    let m = OutboundMessageRequested {
        envelope: Envelope::external(tenant, n, 1_750_000_000_000),
        to: to.into(),
        order_id: Some(format!("o-{n}")),
        purpose: "summary".into(),
        text: format!("message {n}"),
        buttons: ["Confirm", "Edit", "Cancel"].iter().take(buttons).map(|t| ReplyButton { id: t.to_lowercase(), title: t.to_string() }).collect(),
    };
    (format!("{tenant}|{to}"), m)
}

struct Run<'a> {
    s: &'a Stack,
    pool: PgPool,
    tenants: Arc<Tenants>,
    settings: DispatcherSettings,
}

impl Run<'_> {
    async fn stored(&self) -> i64 {
        let topic = self.s.topology.topic("whatsapp.outbound");
        souk_projections::sink_offsets(&self.pool, SINK).await.expect("offsets").iter().filter(|r| r.topic == topic).map(|r| r.next_offset).sum()
    }

    async fn until_caught_up(&self) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let (topology, codec, bootstrap, pool, tenants, settings) = (self.s.topology.clone(), self.s.codec.clone(), self.s.bootstrap.clone(), self.pool.clone(), self.tenants.clone(), self.settings.clone());
        let task = tokio::spawn(async move { run_whatsapp_dispatcher(&topology, SINK, &bootstrap, codec, pool, tenants, settings, rx).await });
        let end = tokio::task::block_in_place(|| self.s.topic_end("whatsapp.outbound"));
        let started = Instant::now();
        while self.stored().await < end {
            assert!(!task.is_finished(), "dispatcher stopped early");
            assert!(started.elapsed() < Duration::from_secs(120), "dispatcher did not catch up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tx.send(true).expect("shutdown");
        task.await.expect("join").expect("dispatcher ran cleanly");
    }

    async fn statuses(&self) -> Vec<StatusEvent> {
        let mut out = Vec::new();
        for r in read_to_end(&self.s.bootstrap, &self.s.topology.topic("whatsapp.status")).await.expect("status") {
            out.push(self.s.codec.decode::<StatusEvent>(&r.payload.expect("value")).await.expect("decode status"));
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dispatcher_sends_each_request_once_and_reports_the_result() {
    let s = support::stack("sinkwa").await;
    let run_id = s.prefix.trim_end_matches('.').replace('.', "");
    let (a, b) = (format!("a{run_id}"), format!("b{run_id}"));
    let wa = RecordingWhatsApp::start().await.expect("recording server");
    wa.fail_to("9104", [ScriptedFailure::ServerError]);
    wa.fail_to("9105", [ScriptedFailure::outside_window()]);
    let pool = PgPool::connect(&stack::database_url()).await.expect("postgres");
    let settings = DispatcherSettings { base_url: wa.base_url(), backoff: Duration::from_millis(50), ..Default::default() };
    let tenants = Arc::new(Tenants::from_list(vec![tenant(&a, &format!("{a}-num")), tenant(&b, &format!("{b}-num"))]).expect("tenants"));
    let run = Run { s: &s, pool: pool.clone(), tenants, settings };
    let reqs = vec![request(&a, "r1", "9101", 0), request(&a, "r2", "9102", 3), request(&b, "r3", "9201", 0), request(&a, "r4", "9104", 0), request(&a, "r5", "9105", 1)];
    s.produce("whatsapp.outbound", &reqs).await;
    run.until_caught_up().await;

    // HTTP: r1..r4 accepted once each (r4 after one 500), r5 refused once.
    let sent = wa.requests();
    assert_eq!(sent.len(), 6, "{sent:#?}");
    let delivered = wa.delivered();
    let to: BTreeSet<&str> = delivered.iter().filter_map(|r| r.to()).collect();
    assert_eq!(delivered.len(), 4);
    assert_eq!(to, BTreeSet::from(["9101", "9102", "9104", "9201"]));
    for (_, req) in &reqs {
        let mine: Vec<_> = sent.iter().filter(|r| r.to() == Some(req.to.as_str())).collect();
        let t = &req.envelope.tenant_id;
        for r in &mine {
            assert_eq!(r.bearer(), Some(format!("token-{t}").as_str()));
            assert_eq!(r.path, format!("/v21.0/{t}-num/messages"));
            assert_eq!(r.headers.get("x-souk-request-id"), Some(&req.envelope.event_id));
            assert_eq!(r.body["messaging_product"], "whatsapp");
        }
        assert_eq!(mine.len(), if req.to == "9104" { 2 } else { 1 }, "requests to {}", req.to);
    }
    let r2 = sent.iter().find(|r| r.to() == Some("9102")).expect("r2");
    assert_eq!(r2.body["type"], "interactive");
    assert_eq!(r2.body["interactive"]["action"]["buttons"].as_array().map(Vec::len), Some(3));
    assert_eq!(r2.body["interactive"]["action"]["buttons"][0], serde_json::json!({"type": "reply", "reply": {"id": "confirm", "title": "Confirm"}}));
    assert_eq!(sent.iter().find(|r| r.to() == Some("9101")).expect("r1").body["text"]["body"], "message r1");

    // Results on whatsapp.status.
    let statuses = run.statuses().await;
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
    let escalations = read_to_end(&s.bootstrap, &s.topology.topic("escalations")).await.expect("escalations");
    assert_eq!(escalations.len(), 1);
    let esc: Bare<EscalationRaised, EscalationEvent> = s.codec.decode(escalations[0].payload.as_deref().expect("value")).await.expect("decode");
    let EscalationEvent::EscalationRaised(esc) = esc.into_event(EscalationEvent::EscalationRaised);
    assert_eq!((esc.kind.as_str(), esc.priority.as_str(), esc.customer.as_deref(), esc.order_id.as_deref()), ("OUTSIDE_WINDOW", "medium", Some("9105"), Some("o-r5")));
    assert_eq!(escalations[0].key.as_deref(), Some(format!("{a}|9105").as_str()));
    let dlq = read_to_end(&s.bootstrap, &s.topology.dlq_topic(SINK)).await.expect("dlq");
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].headers.get("souk-source-topic"), Some(&s.topology.topic("whatsapp.outbound")));
    assert!(dlq[0].headers.get("souk-error").is_some_and(|e| e.contains("131047")), "{:?}", dlq[0].headers);
    let ledger = souk_projections::outbound::outbound_dispatches(&pool, &a).await.expect("ledger");
    assert_eq!(ledger.iter().filter(|r| r.status == "SENT").count(), 3);
    assert_eq!(ledger.iter().filter(|r| r.status == "FAILED").count(), 1);

    // A restart sends only what is new.
    s.produce("whatsapp.outbound", &[request(&b, "r6", "9202", 0)]).await;
    run.until_caught_up().await;
    assert_eq!(wa.requests().len(), 7);
    assert_eq!(wa.requests().last().and_then(|r| r.to().map(str::to_string)).as_deref(), Some("9202"));

    // A crash after sending but before the offsets moved: the replay sends nothing and re-emits
    // the same results (same event ids).
    let before: BTreeSet<String> = run.statuses().await.iter().map(|e| souk_schemas::StreamEvent::envelope(e).event_id.clone()).collect();
    sqlx::query("DELETE FROM sink_offsets WHERE sink = $1 AND topic = $2").bind(SINK).bind(s.topology.topic("whatsapp.outbound")).execute(&pool).await.expect("forget offsets");
    run.until_caught_up().await;
    assert_eq!(wa.requests().len(), 7, "nothing resent");
    let after = run.statuses().await;
    assert_eq!(after.len(), 12, "every result re-emitted once");
    let ids: BTreeSet<String> = after.iter().map(|e| souk_schemas::StreamEvent::envelope(e).event_id.clone()).collect();
    assert_eq!(ids, before, "re-emitted results carry the same ids");
}
