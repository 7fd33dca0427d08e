//! `souk demo`: souk's main job in one command. Brings up the local stack (or reuses it), starts
//! every component in this process under a fresh topic prefix, seeds a demo tenant (a textile
//! wholesaler's catalog and stock), plays real signed webhook deliveries for a handful of customers,
//! prints the transcript and the final projections, then leaves the gateway, read API and search
//! API running for a UI until Ctrl-C. `souk demo flowers` plays system 2's live demo instead
//! (seed-000 §6.1: Partner A refuses pink, re-sourcing finds Partner B, the user approves, then
//! the 61.00 variant that escalates), with the partner simulator answering for the florists;
//! `souk demo inbox` plays the social inbox (Instagram DMs, the owner's review in `/console`). Outbound WhatsApp calls go to a local recording Cloud API
//! unless `--whatsapp-base-url` points at the real one, and payment calls to a local recording
//! Stripe stand-in unless `--payments-base-url` points at a real provider.

use super::run::{self, RunArgs};
use anyhow::Context;
use clap::Args;
use serde_json::Value;
use souk::demo::client::{DemoTenant, SoukClient};
use souk::demo::scenario::{self, Transcript};
use souk_runtime::stack;
use souk_sinks::payments::RecordingStripe;
use souk_sinks::whatsapp::RecordingWhatsApp;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which story `souk demo` plays.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Story {
    /// WhatsApp textile ordering (system 1).
    #[default]
    Textile,
    /// The live demo of autonomous recovery (system 2, seed-000 §6.1) with simulated partners.
    Flowers,
    /// The small-business social inbox (system 3): Instagram DMs, the confidence gate, the owner's
    /// review, low stock, a business rule, an erasure.
    Inbox,
}

/// Options of `souk demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// The story: `textile` (default), `flowers` or `inbox`.
    #[arg(value_enum, default_value_t = Story::Textile)]
    pub story: Story,
    /// Where the gateway, read API and search API listen.
    #[arg(long, default_value = "127.0.0.1:8080", env = "SOUK_HTTP_ADDR")]
    pub http_addr: String,
    /// Send outbound WhatsApp messages to this Cloud API base URL instead of the local recorder.
    #[arg(long)]
    pub whatsapp_base_url: Option<String>,
    /// Send payment calls to this Stripe-compatible API base URL instead of the local stand-in
    /// (the tenant's secret key is then `sk_test_<tenant id>`, which a real account refuses).
    #[arg(long)]
    pub payments_base_url: Option<String>,
    /// Stop after printing the projections instead of serving until Ctrl-C.
    #[arg(long)]
    pub exit: bool,
    /// Don't run `./dev up` first (the stack is managed elsewhere; SOUK_* variables point at it).
    #[arg(long)]
    pub no_stack: bool,
}

/// Starts the local stack with the repository's `./dev up` (a no-op when it is already up).
fn ensure_stack(topology_path: &Path) -> anyhow::Result<()> {
    let root = topology_path.canonicalize().ok().and_then(|p| p.parent().map(Path::to_path_buf)).unwrap_or_else(|| PathBuf::from("."));
    let dev = root.join("dev");
    if !dev.exists() {
        tracing::warn!("no ./dev next to the topology; assuming the stack is up (SOUK_* variables)");
        return Ok(());
    }
    let status = std::process::Command::new(&dev).arg("up").stdout(std::process::Stdio::null()).status().context("running ./dev up")?;
    anyhow::ensure!(status.success(), "./dev up failed ({status}); see ./dev logs");
    Ok(())
}

/// Runs the demo.
pub async fn demo(path: &Path, args: DemoArgs) -> anyhow::Result<()> {
    if !args.no_stack {
        ensure_stack(path)?;
    }
    let stamp = chrono::Utc::now().timestamp();
    let prefix = format!("demo-{stamp}.");
    // The prefix isolates this run's topics and consumer groups from earlier demos and from `souk run`.
    std::env::set_var("SOUK_TOPIC_PREFIX", &prefix);
    let (topology, catalog) = super::load(path)?;
    souk_runtime::admin::apply(&topology, &catalog, &stack::kafka_bootstrap(), &stack::schema_registry_url()).await.context("creating the demo's topics")?;
    let codec = Arc::new(stack::codec_for(&topology, &catalog, &stack::schema_registry_url())?);

    let recorder = match &args.whatsapp_base_url {
        Some(_) => None,
        None => Some(RecordingWhatsApp::start().await?),
    };
    let base_url = args.whatsapp_base_url.clone().or_else(|| recorder.as_ref().map(RecordingWhatsApp::base_url)).expect("a WhatsApp base URL");
    let stripe = match &args.payments_base_url {
        Some(_) => None,
        None => Some(RecordingStripe::start().await?),
    };
    let payments_base_url = args.payments_base_url.clone().or_else(|| stripe.as_ref().map(RecordingStripe::base_url)).expect("a payments base URL");
    let tenant = DemoTenant::derived(&format!("bharat-{stamp}"), "Bharat Textiles");
    let dir = std::env::temp_dir().join(format!("souk-demo-{stamp}"));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("tenants.toml"), tenant.toml())?;
    let run_args = RunArgs {
        only: vec![],
        metrics_addr: "off".into(),
        no_apply: true,
        tick_interval_ms: None,
        driven_clock: false,
        tenants: dir.join("tenants.toml"),
        http_addr: args.http_addr.clone(),
        index_dir: dir.join("search-index"),
        whatsapp_base_url: base_url.clone(),
        whatsapp_api_version: "v21.0".into(),
        payments_base_url: payments_base_url.clone(),
        // The local Graph API stand-in answers Instagram's /me/messages too.
        instagram_base_url: base_url.clone(),
        llm_base_url: None,
        llm_model: "gpt-4o-mini".into(),
        exactly_once: souk_runtime::exactly_once::ModeChoice::Auto,
        instance_id: None,
    };
    let running = run::start(&topology, codec, &run_args).await?;
    let addr = running.http_addr.context("no running component serves HTTP (the topology declares no gateway)")?;
    if let Some(r) = &recorder {
        // Like Meta, the local Cloud API reports each accepted message's status to the webhook.
        r.report_statuses_to(&format!("http://{addr}/webhooks/whatsapp"), &tenant.app_secret);
        // The recipients of the flowers story are simulated partners: their phones are the simulator.
        r.hand_over_to(&format!("http://{addr}/v1/simulator/inbox"), &tenant.app_secret);
    }
    println!("souk demo — topics under {prefix}, tenant {} ({}), gateway http://{addr}", tenant.id, tenant.name);
    println!("outbound WhatsApp → {base_url}{}", if recorder.is_some() { " (local recording Cloud API)" } else { "" });
    println!("payments → {payments_base_url}{}", if stripe.is_some() { " (local recording Stripe)" } else { "" });

    let client = SoukClient::new(&format!("http://{addr}"), tenant.clone(), stamp);
    let transcript = Transcript::new(false);
    let story = async {
        match args.story {
            Story::Textile => {
                scenario::seed(&client, &transcript).await?;
                scenario::play(&client, &transcript).await?;
                print_projections(&client).await
            }
            Story::Flowers => souk::demo::flowers::play(&client, &transcript).await,
            Story::Inbox => souk::demo::inbox::play(&client, &transcript).await,
        }
    };
    let outcome = tokio::select! {
        r = story => r,
        _ = run::shutdown_signal() => Err(anyhow::anyhow!("interrupted")),
    };
    if let Err(e) = outcome {
        return Err(e.context("the demo story failed"));
    }
    if let Some(r) = &recorder {
        println!("\nthe recording Cloud API received {} send requests", r.requests().len());
    }
    if let Some(s) = stripe.as_ref().filter(|s| !s.requests().is_empty()) {
        println!("the recording Stripe received {} calls ({} PaymentIntents, {} refunds, {} transfers)", s.requests().len(), s.payment_intents().len(), s.refunds().len(), s.transfers().len());
    }
    match args.story {
        Story::Textile => {
            println!("\nread API: curl -H 'Authorization: Bearer {}' http://{addr}/v1/orders/pending-approval", tenant.api_key);
            println!("OpenAPI: http://{addr}/openapi.json · search: http://{addr}/v1/search?q=cotton");
        }
        Story::Inbox => {
            println!("\nowner console: http://{addr}/console (API key {})", tenant.api_key);
            println!("read API: curl -H 'Authorization: Bearer {}' http://{addr}/v1/conversations", tenant.api_key);
        }
        Story::Flowers => {
            println!("\nread API: curl -H 'Authorization: Bearer {}' http://{addr}/v1/bundles/bundle-pink", tenant.api_key);
            println!("OpenAPI: http://{addr}/openapi.json · escalations: http://{addr}/v1/escalations");
        }
    }
    if args.exit {
        return run::supervise(running, async {}).await;
    }
    println!("serving until Ctrl-C");
    run::supervise(running, run::shutdown_signal()).await
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Prints orders, stock, invoices and ledgers as the read API shows them.
async fn print_projections(client: &SoukClient) -> anyhow::Result<()> {
    println!("\n══ projections (read API) ══");
    println!("\norders:");
    let customers = [scenario::ASHA, scenario::RAVI, scenario::MEENA, scenario::KIRAN, scenario::FARHAN, scenario::SUNIL, scenario::POOJA];
    let mut invoiced = Vec::new();
    for (wa_id, name) in customers {
        let Some(order) = client.latest_order(wa_id).await? else { continue };
        let order_id = s(&order["order_id"]);
        let detail = client.order(&order_id).await?;
        let lines: Vec<String> = detail["lines"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|l| l["status"] == "ACCEPTED")
            .map(|l| format!("{} m {} {}", s(&l["normalized_meters"]), s(&l["color"]), s(&l["material"])))
            .collect();
        println!("  {name:<7} {:<28} {}", s(&order["state"]), lines.join(", "));
        if !detail["invoice"].is_null() {
            invoiced.push((name, wa_id, detail["invoice"].clone()));
        }
    }
    println!("\nstock (pools):");
    let stock = client.get("/v1/stock").await?;
    for p in stock["pools"].as_array().into_iter().flatten() {
        println!("  {:<10} {:<6} on hand {:>9}  held {:>8}  available {:>9}", s(&p["material"]), s(&p["color"]), s(&p["on_hand_meters"]), s(&p["held_meters"]), s(&p["available_meters"]));
    }
    println!("\ninvoices:");
    for (name, _, inv) in &invoiced {
        println!("  {} {name:<7} subtotal ₹{}  GST ₹{}  total ₹{}", s(&inv["invoice_number"]), s(&inv["subtotal"]), s(&inv["gst_amount"]), s(&inv["total"]));
    }
    println!("\nledger:");
    for (name, wa_id, _) in &invoiced {
        let ledger = client.get(&format!("/v1/ledger/{wa_id}")).await?;
        let b = &ledger["balance"];
        println!("  {name:<7} invoiced ₹{}  paid ₹{}  outstanding ₹{}", s(&b["total_invoiced"]), s(&b["total_paid"]), s(&b["outstanding"]));
    }
    Ok(())
}
