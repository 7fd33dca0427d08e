//! The WhatsApp dispatcher on the real local stack against `RecordingWhatsApp`, with the real
//! gateway taking the Cloud API's status webhooks:
//! - each request is sent once with its tenant's token, path, body and `biz_opaque_callback_data`
//!   (= its event id); a scripted 500 is retried (attempts = 2); a 131047 becomes OutboundFailed +
//!   an OUTSIDE_WINDOW escalation + a dead letter at once; a restart sends only new requests, and
//!   a replay of already-sent requests sends nothing and re-emits identical results;
//! - a send whose answer times out after Meta accepted it is settled from the status webhook that
//!   carries its callback data (no second send), or resent once after the bounded wait when no
//!   status comes; a restarted dispatcher settles an interrupted send the same way;
//! - nothing goes to a person without consent (never wrote, opted out with STOP, a partner
//!   declared without opt-in): OutboundFailed `NO_OPT_IN` with the reason, a `NO_OPT_IN`
//!   escalation, and after START the next message goes out.
//!
//! Outages are in `sink_whatsapp_outage.rs`. Needs `./dev up` (SOUK_KAFKA_BOOTSTRAP,
//! SOUK_SCHEMA_REGISTRY_URL, SOUK_DATABASE_URL).

mod dispatcher_support;
mod support;

use dispatcher_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dispatcher_sends_each_request_once_and_reports_the_result() {
    let h = harness("sinkwa").await;
    let (a, b) = (h.a.clone(), format!("b{}", h.a));
    let wa = RecordingWhatsApp::start().await.expect("recording server");
    wa.fail_to("9104", [ScriptedFailure::ServerError]);
    wa.fail_to("9105", [ScriptedFailure::outside_window()]);
    let settings = quick(&wa.base_url());
    let reqs = vec![request(&a, "r1", "9101", 0), request(&a, "r2", "9102", 3), request(&b, "r3", "9201", 0), request(&a, "r4", "9104", 0), request(&a, "r5", "9105", 1)];
    h.requests(&reqs).await;
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
    let ledger = souk_projections::outbound::outbound_dispatches(&mut h.pool.acquire().await.unwrap(), &a).await.expect("ledger");
    assert_eq!(ledger.iter().filter(|r| r.status == "SENT").count(), 3);
    assert_eq!(ledger.iter().filter(|r| r.status == "FAILED").count(), 1);

    // A restart sends only what is new.
    h.requests(&[request(&b, "r6", "9202", 0)]).await;
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
    let h = harness("sinkwaunk").await;
    let wa = RecordingWhatsApp::start().await.expect("recording server");
    wa.report_statuses_to(&h.webhook_url, APP_SECRET);
    wa.fail_to("9301", [ScriptedFailure::AcceptThenHang { report_status: true }]);
    let settle_wait = Duration::from_secs(40);
    let settings = DispatcherSettings { request_timeout: Duration::from_secs(1), settle_wait, ..quick(&wa.base_url()) };
    let reqs = vec![request(&h.a, "u1", "9301", 0), request(&h.a, "u2", "9301", 1), request(&h.a, "u3", "9302", 0)];
    h.requests(&reqs).await;
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
    let ledger = souk_projections::outbound::outbound_dispatches(&mut h.pool.acquire().await.unwrap(), &h.a).await.expect("ledger");
    assert_eq!(ledger.iter().filter(|r| r.status == "SENT").count(), 3, "{ledger:#?}");
}

/// The answer is lost and so is the status webhook: the dispatcher waits the bounded time, then
/// sends once more with the same callback data.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unknown_outcome_without_a_status_is_resent_once_after_the_bounded_wait() {
    let h = harness("sinkwaunk2").await;
    let wa = RecordingWhatsApp::start().await.expect("recording server");
    wa.report_statuses_to(&h.webhook_url, APP_SECRET);
    wa.fail_to("9401", [ScriptedFailure::AcceptThenHang { report_status: false }]);
    let settle_wait = Duration::from_secs(3);
    let settings = DispatcherSettings { request_timeout: Duration::from_secs(1), settle_wait, ..quick(&wa.base_url()) };
    let reqs = vec![request(&h.a, "w1", "9401", 0), request(&h.a, "w2", "9401", 0)];
    h.requests(&reqs).await;
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
    let h = harness("sinkwarestart").await;
    let wa = RecordingWhatsApp::start().await.expect("recording server");
    wa.report_statuses_to(&h.webhook_url, APP_SECRET);
    let settle_wait = Duration::from_secs(3);
    // The interrupted attempt may have lasted up to the request timeout: wait that + settle_wait.
    let settings = DispatcherSettings { settle_wait, request_timeout: Duration::from_secs(1), ..quick(&wa.base_url()) };
    let reqs = vec![request(&h.a, "c1", "9601", 0), request(&h.a, "c2", "9602", 0)];
    h.consented(&reqs).await;
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

/// No opt-in, no message: a number that never wrote, one that wrote STOP after writing, and a
/// partner declared without opt-in get nothing; the reason is recorded; START opts back in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_is_sent_to_a_person_without_consent_and_the_reason_is_recorded() {
    let h = harness("sinkwaoptin").await;
    let a = h.a.clone();
    let wa = RecordingWhatsApp::start().await.expect("recording server");
    let settings = quick(&wa.base_url());
    h.consent(&a, "9302", true, ConsentChanged::CUSTOMER_MESSAGE).await;
    h.consent(&a, "9302", false, ConsentChanged::KEYWORD).await;
    h.consent(&a, "9302", true, ConsentChanged::CUSTOMER_MESSAGE).await;
    h.consent(&a, "9303", false, ConsentChanged::PARTNER_DECLARED).await;
    h.consent(&a, "9304", true, ConsentChanged::PARTNER_DECLARED).await;
    let refused = [request(&a, "n1", "9301", 0), request(&a, "n2", "9302", 0), request(&a, "n3", "9303", 0)];
    h.s.produce("whatsapp.outbound", &refused).await;
    h.s.produce("whatsapp.outbound", &[request(&a, "n4", "9304", 0)]).await;
    h.until_caught_up(&settings).await;

    let recipients: Vec<String> = wa.requests().iter().filter_map(|r| r.to().map(str::to_string)).collect();
    assert_eq!(recipients, ["9304"], "only the declared partner who opted in is messaged");
    let failed: Vec<(String, String)> = h
        .results()
        .await
        .into_iter()
        .filter_map(|e| match e {
            StatusEvent::OutboundFailed(f) => Some((f.to, f.reason)),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 3, "{failed:#?}");
    let reason = |to: &str| failed.iter().find(|(t, _)| t == to).map(|(_, r)| r.clone()).unwrap_or_default();
    assert_eq!(reason("9301"), "NO_OPT_IN: 9301 has not agreed to receive WhatsApp messages from us; nothing was sent");
    assert_eq!(reason("9302"), "NO_OPT_IN: 9302 opted out of WhatsApp messages; nothing was sent", "a message after STOP is not START");
    assert_eq!(reason("9303"), "NO_OPT_IN: 9303 has not agreed to receive WhatsApp messages from us; nothing was sent");
    let kinds: BTreeSet<String> = h.escalations().await.into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, BTreeSet::from(["NO_OPT_IN".to_string()]));
    let ledger = souk_projections::outbound::outbound_dispatches(&mut h.pool.acquire().await.unwrap(), &a).await.expect("ledger");
    assert_eq!(ledger.iter().filter(|r| r.status == "FAILED").count(), 3);

    // START opts back in: the next message goes out.
    h.consent(&a, "9302", true, ConsentChanged::KEYWORD).await;
    h.s.produce("whatsapp.outbound", &[request(&a, "n5", "9302", 0)]).await;
    h.until_caught_up(&settings).await;
    assert_eq!(wa.delivered().iter().filter_map(|r| r.to()).collect::<Vec<_>>(), ["9304", "9302"]);
}
