//! The WhatsApp dispatcher through a Cloud API outage, on the real local stack: connection
//! refused, then 503, then back — retried in order, through a restart, every reply once and
//! nothing failed; and a message whose 24-hour delivery window closes during the outage fails,
//! escalates and is dead-lettered then, not before. Needs `./dev up`.

mod dispatcher_support;
mod support;

use dispatcher_support::*;

/// The Cloud API refuses connections, then answers 503, then comes back; the dispatcher is
/// restarted in the middle. Every reply arrives once, in order per customer; nothing fails, and
/// the liveness probe does not mistake the wait for a stall.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_is_retried_in_order_until_the_cloud_api_comes_back() {
    let h = harness("sinkwaout").await;
    let addr = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
    let settings = DispatcherSettings {
        backoff: Duration::from_millis(100),
        backoff_max: Duration::from_secs(1),
        // Above the probe's 5 s period (a shorter one flags any new lag seen at the next check).
        liveness_after: Duration::from_secs(6),
        // Should the restart interrupt an attempt, its settling stays short.
        request_timeout: Duration::from_secs(2),
        settle_wait: Duration::from_secs(3),
        ..quick(&format!("http://{addr}"))
    };
    let mut reqs = Vec::new();
    for i in 1..=4 {
        reqs.push(request(&h.a, &format!("o{i}"), "9501", 0));
    }
    reqs.push(request(&h.a, "p1", "9502", 0));
    reqs.push(request(&h.a, "p2", "9502", 0));
    h.requests(&reqs).await;
    let stalls = || souk_runtime::metrics::Metrics::global().stalls.with_label_values(&[SINK]).get();
    let stalls_before = stalls();

    // Connection refused, with a restart (which must stop promptly while backing off): each run
    // goes on only once it has deferred a request (it met the outage).
    let deferrals = || souk_runtime::metrics::Metrics::global().records_skipped.with_label_values(&[SINK, "deferred"]).get();
    let met_the_outage = |since: u64| async move {
        let started = std::time::Instant::now();
        while deferrals() <= since {
            assert!(started.elapsed() < Duration::from_secs(30), "the dispatcher never deferred a request while the Cloud API refused connections");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let before = deferrals();
    let running = h.start(&settings);
    met_the_outage(before).await;
    let stop_took = h.stop(running).await;
    assert!(stop_took < Duration::from_secs(3), "shutdown took {stop_took:?} while backing off");
    let before = deferrals();
    let running = h.start(&settings);
    met_the_outage(before).await;
    // Then 503 for 10 s (the restarted run's probe, checking every 5 s, sees the partitions
    // stuck from its first check to its third, 10 s: a stall, were they not held on purpose),
    // then up.
    let wa = RecordingWhatsApp::start_on(addr).await.expect("the Cloud API comes back on its address");
    wa.set_down(true);
    tokio::time::sleep(Duration::from_secs(10)).await;
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
    let h = harness("sinkwawin").await;
    let wa = RecordingWhatsApp::start().await.expect("recording server");
    wa.set_down(true);
    let window = Duration::from_secs(5);
    let settings = DispatcherSettings { delivery_window: window, backoff: Duration::from_millis(100), backoff_max: Duration::from_millis(500), ..quick(&wa.base_url()) };
    h.consent(&h.a, "9701", true, ConsentChanged::CUSTOMER_MESSAGE).await;
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
