//! Prints what a webhook delivery with a bad signature costs the gateway when many tenants are
//! configured: 256 KiB bodies, 10,000 tenants, once all of one Meta app (one shared app secret)
//! and once each with its own secret (the worst case: one HMAC per distinct secret).
//! `cargo run --release -p souk-producers --example webhook_bad_signature`

use axum::body::Body;
use axum::http::Request;
use souk_producers::gateway::{router, GatewayState, KafkaPublisher, NoOrderDirectory};
use souk_runtime::tenants::{Secret, Tenant, Tenants};
use souk_runtime::topology::Topology;
use std::sync::Arc;
use std::time::Instant;
use tower::ServiceExt;

fn tenants(n: usize, shared_secret: bool) -> Tenants {
    let list = (0..n)
        .map(|i| Tenant {
            id: format!("t{i}"),
            name: format!("T{i}"),
            phone_number_id: format!("{}", 100_000 + i),
            app_secret: Secret::new(if shared_secret { "one-meta-app".to_string() } else { format!("app-secret-{i}") }),
            verify_token: Secret::new(format!("verify-{i}")),
            api_key: Secret::new(format!("key-{i}")),
            access_token: Secret::new("token"),
            intent_confidence_threshold: None,
            payments_secret_key: None,
            instagram: None,
            whatsapp_inbox: false,
            staff: vec![],
            rate_limits: None,
        })
        .collect();
    Tenants::from_list(list).expect("tenants")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../topology.toml"))?;
    let topology = Topology::parse(&text, "")?;
    let catalog = souk_schemas::Catalog::builtin()?;
    // refused before anything is published: the broker, registry and database are never reached
    let codec = Arc::new(souk_runtime::stack::codec_for(&topology, &catalog, "http://127.0.0.1:9")?);
    let publisher = Arc::new(KafkaPublisher::connect("127.0.0.1:9", codec, &topology)?);
    let body = vec![b'x'; 256 * 1024];
    let requests = 20;
    for (label, shared) in [("10,000 tenants of one Meta app (1 distinct secret)", true), ("10,000 tenants, 10,000 distinct secrets", false)] {
        let tenants = Arc::new(tenants(10_000, shared));
        let state = GatewayState::new(tenants, publisher.clone(), Arc::new(NoOrderDirectory));
        let app = router(state).into_router();
        let started = Instant::now();
        for _ in 0..requests {
            let request = Request::post("/webhooks/whatsapp").header("x-hub-signature-256", format!("sha256={}", "0".repeat(64))).body(Body::from(body.clone()))?;
            let status = app.clone().oneshot(request).await?.status();
            assert_eq!(status.as_u16(), 401);
        }
        let per = started.elapsed() / requests;
        println!("bad-signature 256 KiB delivery, {label}: {:.3} ms per request (401)", per.as_secs_f64() * 1000.0);
    }
    Ok(())
}
