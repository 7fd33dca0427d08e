//! The textile ordering system running for real, for the end-to-end tests: an isolated
//! pipeline (unique topic prefix), a unique tenant, a local WhatsApp Cloud API that records every
//! send, a local Stripe stand-in that records every payment call, and the whole `souk run` as a child process (killable with SIGKILL) serving the gateway,
//! the read API and the search API. Tests talk to it only over HTTP, like Meta and a dashboard do.
#![allow(dead_code)]

use super::{kill9, Pipeline, Proc};
use souk::demo::client::{DemoTenant, SoukClient};
use souk::demo::scenario::{self, Transcript};
use souk_schemas::whatsapp::{OutboundEvent, OutboundMessageRequested};
use souk_sinks::payments::RecordingStripe;
use souk_sinks::whatsapp::{RecordedRequest, RecordingWhatsApp};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One running textile system.
pub struct Textile {
    /// Topics and codec of the isolated copy.
    pub pipeline: Pipeline,
    /// Drives it over HTTP.
    pub client: SoukClient,
    /// What souk sent to WhatsApp.
    pub whatsapp: RecordingWhatsApp,
    /// The payment provider: every call the payments dispatcher made, its objects and balance
    /// (the tenant's account is its `payments_secret_key`).
    pub stripe: RecordingStripe,
    /// The transcript (quiet in tests unless SOUK_TEST_TRANSCRIPT=1).
    pub transcript: Transcript,
    dir: PathBuf,
    http_addr: String,
    run: Option<Proc>,
    runs: usize,
    /// Extra `souk run` arguments (e.g. `--driven-clock`).
    run_args: Vec<String>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Textile {
    /// Starts everything and seeds the demo catalog and stock.
    pub async fn start(tag: &str) -> Textile {
        let t = Textile::start_unseeded(tag).await;
        scenario::seed(&t.client, &t.transcript).await.expect("seeding the catalog");
        t
    }

    /// Like [`Textile::start`] with the tenant's settings adjusted by `configure` first.
    pub async fn start_configured(tag: &str, configure: impl FnOnce(&mut DemoTenant)) -> Textile {
        let t = Textile::boot(tag, configure).await;
        scenario::seed(&t.client, &t.transcript).await.expect("seeding the catalog");
        t
    }

    /// Starts everything with an empty catalog.
    pub async fn start_unseeded(tag: &str) -> Textile {
        Textile::boot(tag, |_| {}).await
    }

    /// Starts everything with an empty catalog and a clock that ticks only when the test says
    /// (`POST /v1/clock/ticks`, see [`Textile::tick_at`]).
    pub async fn start_driven(tag: &str) -> Textile {
        Textile::boot_with(tag, |_| {}, &["--driven-clock"]).await
    }

    /// Starts everything with an empty catalog and the tenant as `configure` leaves it.
    pub async fn start_unseeded_configured(tag: &str, configure: impl FnOnce(&mut DemoTenant)) -> Textile {
        Textile::boot(tag, configure).await
    }

    async fn boot(tag: &str, configure: impl FnOnce(&mut DemoTenant)) -> Textile {
        Textile::boot_with(tag, configure, &["--tick-interval-ms", "500"]).await
    }

    async fn boot_with(tag: &str, configure: impl FnOnce(&mut DemoTenant), run_args: &[&str]) -> Textile {
        let pipeline = Pipeline::new(tag).await;
        let tenant_id = format!("t{}", pipeline.prefix.trim_end_matches('.').replace(['.', '_'], "-").to_lowercase());
        let mut tenant = DemoTenant::derived(&tenant_id, "Bharat Textiles (test)");
        // Tests drive many commands a minute (schemathesis thousands); the limits themselves are
        // tested with the source's defaults (http_rate_limits.rs).
        tenant.rate_limits = Some((1_000_000, 10_000_000));
        configure(&mut tenant);
        let whatsapp = RecordingWhatsApp::start().await.expect("recording WhatsApp server");
        let stripe = RecordingStripe::start().await.expect("recording Stripe server");
        let dir = pipeline.logs.clone();
        std::fs::write(dir.join("tenants.toml"), tenant.toml()).unwrap();
        let http_addr = format!("127.0.0.1:{}", free_port());
        // As Meta does, the Cloud API reports each accepted message's `sent` status (with its
        // callback data) to the gateway's webhook: a send whose answer a crash lost is settled
        // by it instead of being sent again.
        whatsapp.report_statuses_to(&format!("http://{http_addr}/webhooks/whatsapp"), &tenant.app_secret);
        let start_s = chrono::Utc::now().timestamp();
        let client = SoukClient::new(&format!("http://{http_addr}"), tenant, start_s);
        let quiet = std::env::var("SOUK_TEST_TRANSCRIPT").is_err();
        let run_args = run_args.iter().map(|a| a.to_string()).collect();
        let mut t = Textile { pipeline, client, whatsapp, stripe, transcript: Transcript::new(quiet), dir, http_addr, run: None, runs: 0, run_args };
        t.spawn();
        t.client.wait("the gateway to answer", || async { Ok(t.client.get("/v1/stock").await.ok()) }).await.expect("souk run came up");
        t
    }

    fn spawn(&mut self) {
        self.runs += 1;
        let name = format!("souk-run-{}", self.runs);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join(format!("{name}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_souk"))
            .args(["--topology", concat!(env!("CARGO_MANIFEST_DIR"), "/topology.toml"), "run", "--no-apply", "--metrics-addr", "off"])
            .args(&self.run_args)
            .env("SOUK_TOPIC_PREFIX", &self.pipeline.prefix)
            .env("SOUK_TENANTS", self.dir.join("tenants.toml"))
            .env("SOUK_HTTP_ADDR", &self.http_addr)
            .env("SOUK_INDEX_DIR", self.dir.join("index"))
            .env("SOUK_WHATSAPP_BASE_URL", self.whatsapp.base_url())
            .env("SOUK_PAYMENTS_BASE_URL", self.stripe.base_url())
            // The recording Graph API answers Instagram's /me/messages too.
            .env("SOUK_INSTAGRAM_BASE_URL", self.whatsapp.base_url())
            .env("SOUK_LOG", "info,rdkafka=warn,librdkafka=warn")
            // a restart is the same replica again: its transactional ids fence the killed one's
            .env("SOUK_INSTANCE_ID", "textile")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn souk run");
        self.run = Some(Proc(child));
    }

    /// The search index directory `souk run` writes.
    pub fn index_dir(&self) -> PathBuf {
        self.dir.join("index")
    }

    /// SIGKILLs the whole `souk run`.
    pub fn kill9(&mut self) {
        if let Some(p) = self.run.as_mut() {
            kill9(p);
        }
        self.run = None;
    }

    /// Starts `souk run` again (same prefix, tenant and index dir).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// The logs of every run so far (for failure messages).
    pub fn logs(&self) -> String {
        (1..=self.runs).map(|i| self.pipeline.log_of(&format!("souk-run-{i}"))).collect::<Vec<_>>().join("\n")
    }

    /// How many outbound WhatsApp sends the Cloud API accepted so far (every customer).
    pub fn sends(&self) -> usize {
        self.whatsapp.delivered().len()
    }

    /// Outbound WhatsApp sends accepted for `wa_id`, in arrival order.
    pub fn sends_to(&self, wa_id: &str) -> Vec<RecordedRequest> {
        self.whatsapp.delivered().into_iter().filter(|r| r.to() == Some(wa_id)).collect()
    }

    /// Texts of the outbound WhatsApp messages sent to `wa_id`, in order.
    pub fn sent_to(&self, wa_id: &str) -> Vec<String> {
        self.sends_to(wa_id).iter().map(|r| r.text().unwrap_or_default().to_string()).collect()
    }

    /// Waits until WhatsApp received `n` messages for `wa_id`, returns them.
    pub async fn wait_sent(&self, wa_id: &str, n: usize) -> Vec<RecordedRequest> {
        let result = self
            .client
            .wait(&format!("{n} WhatsApp sends to {wa_id}"), || async {
                let sent = self.sends_to(wa_id);
                Ok((sent.len() >= n).then_some(sent))
            })
            .await;
        result.unwrap_or_else(|e| panic!("{e:#}\nsent so far: {:?}\n{}", self.sent_to(wa_id), self.log_tail()))
    }

    /// The customer says `text`; waits for `replies` more WhatsApp sends to them; returns all sends.
    pub async fn say(&self, wa_id: &str, wamid: &str, text: &str, replies: usize) -> Vec<RecordedRequest> {
        let before = self.sends_to(wa_id).len();
        self.client.say(wa_id, wamid, text).await.expect("webhook delivery");
        self.wait_sent(wa_id, before + replies).await
    }

    /// The customer taps button `id`; waits for `replies` more sends; returns all sends.
    pub async fn press(&self, wa_id: &str, wamid: &str, id: &str, replies: usize) -> Vec<RecordedRequest> {
        let before = self.sends_to(wa_id).len();
        self.client.press(wa_id, wamid, id, id).await.expect("webhook delivery");
        self.wait_sent(wa_id, before + replies).await
    }

    /// The customer's newest order once it is in `state`.
    pub async fn order_in(&self, wa_id: &str, state: &str) -> serde_json::Value {
        let order = self.client.wait_order_state(wa_id, state).await.unwrap_or_else(|e| panic!("{e:#}\n{}", self.log_tail()));
        self.client.order(order["order_id"].as_str().unwrap()).await.unwrap()
    }

    /// The order's detail once its invoice is projected.
    pub async fn invoiced(&self, order_id: &str) -> serde_json::Value {
        let result = self
            .client
            .wait(&format!("the invoice of {order_id}"), || async {
                let detail = self.client.order(order_id).await?;
                Ok((!detail["invoice"].is_null()).then_some(detail))
            })
            .await;
        result.unwrap_or_else(|e| panic!("{e:#}\n{}", self.log_tail()))
    }

    /// Waits until the customer's ledger shows `outstanding`; returns the ledger.
    pub async fn ledger_outstanding(&self, wa_id: &str, outstanding: &str) -> serde_json::Value {
        let result = self
            .client
            .wait(&format!("outstanding {outstanding} for {wa_id}"), || async {
                let (status, ledger) = self.client.owner(reqwest::Method::GET, &format!("/v1/ledger/{wa_id}"), None).await?;
                Ok((status == 200 && ledger["balance"]["outstanding"] == outstanding).then_some(ledger))
            })
            .await;
        result.unwrap_or_else(|e| panic!("{e:#}\n{}", self.log_tail()))
    }

    /// The last lines of every run's log (for failure messages).
    pub fn log_tail(&self) -> String {
        let logs = self.logs();
        let lines: Vec<&str> = logs.lines().filter(|l| l.contains("ERROR") || l.contains("WARN")).collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Waits until `component` (a processor, stage or sink of topology.toml) has committed the end
    /// of `topic`: everything on it so far is applied. A sink commits its Kafka offsets after the
    /// SQL commit, so a caught-up sink's read model shows every record of `topic`.
    pub async fn caught_up(&self, component: &str, topic: &str) {
        let (group, topic) = (self.pipeline.topology.group_id(component), self.pipeline.topology.topic(topic));
        let result = souk_runtime::testkit::wait_group_caught_up(&self.pipeline.bootstrap, &group, &topic, Duration::from_secs(120)).await;
        result.unwrap_or_else(|e| panic!("{e:#}\n{}", self.log_tail()));
    }

    /// Every `OutboundMessageRequested` to `wa_id` on `whatsapp.outbound` (what souk decided to
    /// send, before the dispatcher refuses anything), once per event id, in log order.
    pub async fn outbound_to(&self, wa_id: &str) -> Vec<OutboundMessageRequested> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for r in self.pipeline.read("whatsapp.outbound").await {
            let payload = r.payload.as_deref().unwrap_or_default();
            let OutboundEvent::OutboundMessageRequested(m) =
                self.pipeline.codec.decode::<OutboundEvent>(payload).await.unwrap_or_else(|e| panic!("whatsapp.outbound offset {} does not decode: {e}", r.offset));
            if m.to == wa_id && seen.insert(m.envelope.event_id.clone()) {
                out.push(m);
            }
        }
        out
    }

    /// The local Cloud API hands every accepted message to the partner simulator of this `souk
    /// run`, whose simulated partners answer through the webhook.
    pub fn hand_over_to_simulator(&self) {
        self.whatsapp.hand_over_to(&format!("http://{}/v1/simulator/inbox", self.http_addr), &self.client.tenant.app_secret);
    }

    /// Stream time reaches `at` (epoch ms) on every timer-driven partition (driven clock only).
    pub async fn tick_at(&self, at: i64) {
        let when = chrono::DateTime::from_timestamp_millis(at).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let (status, answer) = self.client.owner(reqwest::Method::POST, "/v1/clock/ticks", Some(serde_json::json!({ "at": when }))).await.unwrap();
        assert_eq!(status, 202, "{answer}");
    }

    /// Gives the system time to (not) do something, for negative assertions.
    pub async fn settle(&self) {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }

    /// A second tenant served by the same `souk run` (same topics, read models and search index):
    /// rewrites tenants.toml with both tenants, restarts (kill -9 + start) and returns a client
    /// for the new one, once it is served. Its catalog is empty (seed it with `scenario::seed`).
    pub async fn add_tenant(&mut self, suffix: &str) -> SoukClient {
        let other = DemoTenant::derived(&format!("{}-{suffix}", self.client.tenant.id), "Second shop (test)");
        std::fs::write(self.dir.join("tenants.toml"), format!("{}\n{}", self.client.tenant.toml(), other.toml())).unwrap();
        self.restart();
        let client = SoukClient::new(self.client.base(), other, chrono::Utc::now().timestamp());
        self.client.wait("souk run to serve the second tenant", || async { Ok(client.get("/v1/stock").await.ok()) }).await.expect("souk run came back with two tenants");
        client
    }
}

/// Readers of the read API's JSON, shared by the textile tests.
pub mod json {
    use rust_decimal::Decimal;
    use serde_json::Value;

    /// A decimal the API sends as a JSON string.
    pub fn dec(v: &Value) -> Decimal {
        v.as_str().unwrap_or_else(|| panic!("not a decimal string: {v}")).parse().unwrap()
    }

    /// A decimal literal.
    pub fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    /// The order id of an order detail.
    pub fn order_id(detail: &Value) -> String {
        detail["order"]["order_id"].as_str().unwrap().to_string()
    }

    /// The order's lines as the read API shows them, in position order.
    pub fn lines(detail: &Value) -> Vec<Value> {
        let mut lines = detail["lines"].as_array().cloned().unwrap_or_default();
        lines.sort_by_key(|l| l["position"].as_i64().unwrap_or_default());
        lines
    }
}
