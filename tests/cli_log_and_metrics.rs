//! The people-facing surface: `souk produce` (JSON lines → Avro, a bad line is refused with its
//! number and nothing is sent), `souk consume` (Avro → JSON lines), and `souk run`'s `/metrics` and
//! `/healthz`. Needs the local stack (`./dev up`).

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::Pipeline;

fn souk(prefix: &str, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_souk"))
        .args(["--topology", concat!(env!("CARGO_MANIFEST_DIR"), "/topology.toml")])
        .args(args)
        .env("SOUK_TOPIC_PREFIX", prefix)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

const BATCH: &str = r#"acme|cotton|blue	{"BatchReceived":{"envelope":{"event_id":"e1","tenant_id":"acme","occurred_at":1700000000000,"correlation_id":"c1"},"batch_id":"b1","material":"cotton","color":"blue","dye_lot":"L7","rolls":4,"meters_per_roll":"25","loose_meters":"12.5","price_per_meter":"185.50","received_at":1700000000000}}"#;
const RESERVE: &str = r#"acme|cotton|blue	{"ReserveRequested":{"envelope":{"event_id":"e2","tenant_id":"acme","occurred_at":1700000001000,"correlation_id":"c2"},"hold_id":"h1","order_id":"o1","line_id":"1","meters":"20.5"}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_consume_and_metrics() {
    let p = Pipeline::new("cli").await;

    let bad = souk(&p.prefix, &["produce", "inventory.commands"], &format!("{BATCH}\n{{\"ReserveRequested\":{{\"hold_id\":\"x\"}}}}\n"));
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("line 2") && err.contains("ReserveRequested.envelope"), "names the line and the field: {err}");
    assert!(p.read("inventory.commands").await.is_empty(), "nothing produced when a line is bad");

    let ok = souk(&p.prefix, &["produce", "inventory.commands"], &format!("{BATCH}\n{RESERVE}\n"));
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));

    let consumed = souk(&p.prefix, &["consume", "inventory.commands", "--from-beginning"], "");
    assert!(consumed.status.success(), "{}", String::from_utf8_lossy(&consumed.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&consumed.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    let reserve = lines.iter().find(|l| l["value"].get("ReserveRequested").is_some()).unwrap();
    assert_eq!(reserve["key"], "acme|cotton|blue");
    assert_eq!(reserve["value"]["ReserveRequested"]["meters"], "20.500", "decimals come back exact at their scale");
    assert_eq!(reserve["value"]["ReserveRequested"]["ttl_ms"], 86_400_000, "defaults filled from the schema");

    // souk run exposes /healthz and /metrics.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut run = support::Proc(
        Command::new(env!("CARGO_BIN_EXE_souk"))
            .args(["--topology", concat!(env!("CARGO_MANIFEST_DIR"), "/topology.toml"), "run", "--no-apply", "--only", "inventory-pool", "--metrics-addr", &format!("127.0.0.1:{port}")])
            .env("SOUK_TOPIC_PREFIX", &p.prefix)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    p.wait_processed(120).await;
    let http = reqwest::Client::new();
    let started = Instant::now();
    let metrics = loop {
        let body = http.get(format!("http://127.0.0.1:{port}/metrics")).send().await.ok();
        if let Some(resp) = body {
            let text = resp.text().await.unwrap();
            if text.contains("souk_batch_commits_total") {
                break text;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(30), "metrics endpoint answers");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(metrics.contains("souk_records_in_total{component=\"inventory-pool\""), "{metrics}");
    assert!(metrics.contains("souk_records_out_total"), "{metrics}");
    assert!(metrics.contains("souk_restore_seconds"), "{metrics}");
    let health = http.get(format!("http://127.0.0.1:{port}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    support::terminate(&mut run);
    assert!(run.0.try_wait().unwrap().is_some_and(|s| s.success()), "SIGTERM stops souk run cleanly");
}
