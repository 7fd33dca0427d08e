//! The owner console in a real browser (issue 13 §7): Debian's chromium, headless, driven through
//! chromedriver. The owner logs in with the tenant's key; a doubtful Instagram message arrives and
//! its escalated draft appears without a reload (with the "Low confidence: 0.65" notification);
//! the owner edits it and sends it; Meta's delivery receipt comes in and the console shows the
//! reply delivered. Screenshots of both moments are saved (their paths are printed).

mod support;

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::inbox::{eventually, say};
use support::textile::Textile;

/// chromedriver on a free loopback port, killed when dropped.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    async fn start() -> ChromeDriver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child =
            Command::new("chromedriver").arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("chromedriver (Debian's chromium-driver; ./dev test installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let status = format!("{url}/status");
        eventually("chromedriver ready", async || {
            let ready: serde_json::Value = reqwest::get(&status).await.ok()?.json().await.ok()?;
            (ready["value"]["ready"] == true).then_some(())
        })
        .await;
        ChromeDriver { child, url }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the screenshots go: `$CARGO_TARGET_DIR/souk-screenshots` (or the temp dir).
fn screenshot_dir() -> std::path::PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let dir = base.join("souk-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn save(c: &fantoccini::Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = screenshot_dir().join(name);
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

/// The text of the first element `css` matches once `check` holds of it (up to 60 s).
async fn text_when(c: &fantoccini::Client, css: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            if let Ok(text) = e.text().await {
                if check(&text) {
                    return text;
                }
            }
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what} ({css})");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_reviews_an_escalated_draft_in_the_console_and_sees_it_delivered() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let t = Textile::start_unseeded("console-browser").await;
    let driver = ChromeDriver::start().await;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": "/usr/bin/chromium", "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run", "--disable-dev-shm-usage", "--window-size=1280,1400"] }),
    );
    let c = ClientBuilder::rustls().unwrap().capabilities(caps).connect(&driver.url).await.expect("a chromium session");

    // Log in with the tenant's key (a wrong one is refused first).
    c.goto(&format!("{}/console", t.client.base())).await.unwrap();
    c.find(Locator::Css("#api-key")).await.unwrap().send_keys("not-a-key").await.unwrap();
    c.find(Locator::Css("#login-button")).await.unwrap().click().await.unwrap();
    text_when(&c, "#login-error", "the refusal", |t| t.contains("not valid")).await;
    let field = c.find(Locator::Css("#api-key")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(&t.client.tenant.api_key).await.unwrap();
    c.find(Locator::Css("#login-button")).await.unwrap().click().await.unwrap();
    c.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css("#console:not([hidden])")).await.expect("the console");
    text_when(&c, "#live", "the live stream", |t| t == "live").await;
    // A marker that a reload would wipe: everything below must arrive without one.
    c.execute("window.soukMarker = 42; return 1;", vec![]).await.unwrap();

    // A doubtful question arrives on Instagram: its draft is escalated at 0.65.
    say(&t, &[("ig-console-1", "mid.console.1", "Is the blue one still available?")]).await;
    let card = c.wait().at_most(Duration::from_secs(60)).for_element(Locator::Css("#drafts li[data-reply-id]")).await.expect("the escalated draft, live");
    let reply_id = card.attr("data-reply-id").await.unwrap().expect("a reply id");
    let customer = card.text().await.unwrap();
    assert!(customer.contains("Is the blue one still available?") && customer.contains("confidence 0.65"), "{customer}");
    text_when(&c, "#notifications li.high", "the escalation notification", |t| t.contains("Low confidence: 0.65")).await;
    text_when(&c, "#inbox tbody tr.escalated .status", "the escalated conversation first", |t| t == "escalated").await;
    save(&c, "console-escalated.png").await;

    // The owner edits the draft and sends it.
    let answer = "Yes, the blue one is in stock. Shall I hold it for you?";
    let text = c.find(Locator::Css(&format!("#drafts li[data-reply-id='{reply_id}'] textarea"))).await.unwrap();
    text.clear().await.unwrap();
    text.send_keys(answer).await.unwrap();
    c.find(Locator::Css(&format!("#drafts li[data-reply-id='{reply_id}'] button.edit"))).await.unwrap().click().await.unwrap();
    let sent = eventually("the edited reply sent to Instagram", async || {
        t.whatsapp.requests().into_iter().find(|r| r.path == "/v17.0/me/messages" && r.to() == Some("ig-console-1") && r.text() == Some(answer))
    })
    .await;
    assert_eq!(sent.text(), Some(answer));
    text_when(&c, &format!("#replies li[data-reply-id='{reply_id}'] .status"), "the reply sent", |s| s == "sent").await;

    // Meta reports it delivered: the console shows it, still without a reload.
    let mid = eventually("the sent message's id", async || {
        let replies = t.client.get("/v1/replies").await.ok()?;
        replies["replies"].as_array()?.iter().find(|r| r["reply_id"] == reply_id.as_str())?["platform_reply_id"].as_str().map(str::to_string)
    })
    .await;
    let now = chrono::Utc::now().timestamp_millis();
    let page = &t.client.tenant.instagram_page_id;
    let receipt = serde_json::to_vec(&json!({"object": "instagram", "entry": [{"id": page, "time": now, "messaging": [
        {"sender": {"id": "ig-console-1"}, "recipient": {"id": page}, "timestamp": now, "delivery": {"mids": [mid], "watermark": now}}]}]}))
    .unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/webhooks/instagram", t.client.base()))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", souk_producers::gateway::sign(&t.client.tenant.instagram_app_secret, &receipt))
        .body(receipt)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    text_when(&c, &format!("#replies li[data-reply-id='{reply_id}'] .status"), "the reply delivered", |s| s == "delivered").await;
    assert!(c.find(Locator::Css("#drafts li[data-reply-id]")).await.is_err(), "nothing left to review");
    assert_eq!(c.execute("return window.soukMarker;", vec![]).await.unwrap(), json!(42), "no reload happened");
    save(&c, "console-delivered.png").await;
    c.close().await.unwrap();
}
