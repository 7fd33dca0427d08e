//! A client of a running souk, speaking only its public HTTP surfaces: the WhatsApp webhook (signed
//! deliveries, like Meta), the owner commands and the read API. The demo and the end-to-end tests
//! drive souk through it, so they exercise exactly what real channels and dashboards use.

use super::meta::{messages_delivery, CustomerAction, InboundSpec};
use anyhow::{anyhow, bail, Context};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// The credentials of one tenant, as written to `tenants.toml` and used by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoTenant {
    /// Tenant id.
    pub id: String,
    /// Business name.
    pub name: String,
    /// WhatsApp `phone_number_id` of the business.
    pub phone_number_id: String,
    /// Meta app secret (signs webhooks).
    pub app_secret: String,
    /// Webhook verify token.
    pub verify_token: String,
    /// Owner API key.
    pub api_key: String,
    /// Cloud API access token (outbound).
    pub access_token: String,
    /// The payment provider's secret key (`sk_test_<id>`: accepted by the recording Stripe
    /// stand-in), the payments dispatcher's bearer token.
    pub payments_secret_key: String,
    /// `intent_confidence_threshold` (rules B6), when not the default 0.80.
    pub confidence_threshold: Option<String>,
    /// The Instagram page whose DMs the social inbox answers (`[tenants.instagram]`).
    pub instagram_page_id: String,
    /// The Meta app secret signing the Instagram webhooks.
    pub instagram_app_secret: String,
    /// Staff keys by role (`[[tenants.staff]]`, rules AU1): an admin, an operator, a viewer.
    pub staff: Vec<(String, String)>,
    /// `[tenants.rate_limits]` (commands per minute, per hour; rules AU2), when not the source's
    /// 60 and 1,000.
    pub rate_limits: Option<(u32, u32)>,
    /// `whatsapp_inbox`: its WhatsApp customers are answered by the social inbox.
    pub whatsapp_inbox: bool,
}

impl DemoTenant {
    /// A tenant whose secrets derive from its id (the demo and tests need no secret store).
    pub fn derived(id: &str, name: &str) -> DemoTenant {
        let digest = uuid::Uuid::new_v5(&souk_schemas::envelope::SOUK_ID_NAMESPACE, id.as_bytes()).simple().to_string();
        DemoTenant {
            id: id.to_string(),
            name: name.to_string(),
            phone_number_id: format!("1{}", u64::from_str_radix(&digest[..12], 16).unwrap_or(7) % 10_000_000_000),
            app_secret: format!("app-secret-{}", &digest[..16]),
            verify_token: format!("verify-{}", &digest[16..24]),
            api_key: format!("owner-key-{}", &digest[8..28]),
            access_token: format!("EAAG-{}", &digest[..20]),
            payments_secret_key: format!("sk_test_{id}"),
            confidence_threshold: None,
            instagram_page_id: format!("178414{}", u64::from_str_radix(&digest[12..24], 16).unwrap_or(7) % 100_000_000_000),
            instagram_app_secret: format!("ig-app-secret-{}", &digest[16..32]),
            staff: ["admin", "operator", "viewer"].iter().map(|role| (role.to_string(), format!("{role}-key-{}", &digest[4..24]))).collect(),
            rate_limits: None,
            whatsapp_inbox: false,
        }
    }

    /// This tenant as a `[[tenants]]` entry of `tenants.toml`.
    pub fn toml(&self) -> String {
        let mut entry = format!(
            "[[tenants]]\nid = {:?}\nname = {:?}\nphone_number_id = {:?}\napp_secret = {:?}\nverify_token = {:?}\napi_key = {:?}\naccess_token = {:?}\npayments_secret_key = {:?}\n",
            self.id, self.name, self.phone_number_id, self.app_secret, self.verify_token, self.api_key, self.access_token, self.payments_secret_key
        );
        if self.whatsapp_inbox {
            entry.push_str("whatsapp_inbox = true\n");
        }
        if let Some(threshold) = &self.confidence_threshold {
            entry.push_str(&format!("intent_confidence_threshold = {threshold:?}\n"));
        }
        entry.push_str(&format!(
            "[tenants.instagram]\npage_id = {:?}\napp_secret = {:?}\naccess_token = {:?}\n",
            self.instagram_page_id,
            self.instagram_app_secret,
            format!("IGQ-{}", self.access_token)
        ));
        if let Some((per_minute, per_hour)) = self.rate_limits {
            entry.push_str(&format!("[tenants.rate_limits]\ncommands_per_minute = {per_minute}\ncommands_per_hour = {per_hour}\n"));
        }
        for (role, key) in &self.staff {
            entry.push_str(&format!("[[tenants.staff]]\nname = \"{role}-1\"\nrole = {role:?}\napi_key = {key:?}\n"));
        }
        entry
    }

    /// The API key of this tenant's staff member with `role`.
    pub fn staff_key(&self, role: &str) -> Option<&str> {
        self.staff.iter().find(|(r, _)| r == role).map(|(_, k)| k.as_str())
    }
}

/// One batch of stock as the owner receives it (`POST /v1/stock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSpec<'a> {
    /// Supplier batch id (the dye lot is `LOT-<batch_id>`).
    pub batch_id: &'a str,
    /// Material.
    pub material: &'a str,
    /// Color.
    pub color: &'a str,
    /// Whole rolls.
    pub rolls: i32,
    /// Meters per roll (decimal string).
    pub meters_per_roll: &'a str,
    /// Loose meters (decimal string).
    pub loose_meters: &'a str,
    /// Receipt time, RFC 3339 (FIFO order).
    pub received_at: &'a str,
}

/// Drives one tenant of a running souk over HTTP.
pub struct SoukClient {
    http: reqwest::Client,
    base: String,
    /// The tenant it acts for.
    pub tenant: DemoTenant,
    /// Epoch seconds of the next customer message (advances by one per message).
    clock_s: AtomicI64,
    /// How long to keep retrying a delivery/command while souk is unreachable (restarts).
    pub patience: Duration,
}

impl SoukClient {
    /// A client for the gateway at `base` (e.g. `http://127.0.0.1:8080`); message timestamps start
    /// at `start_s` (epoch seconds) so a replayed scenario sends identical deliveries.
    pub fn new(base: &str, tenant: DemoTenant, start_s: i64) -> SoukClient {
        SoukClient {
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("http client"),
            base: base.trim_end_matches('/').to_string(),
            tenant,
            clock_s: AtomicI64::new(start_s),
            patience: Duration::from_secs(120),
        }
    }

    /// The gateway's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Posts a raw webhook body signed with the tenant's app secret; returns the status.
    pub async fn post_webhook(&self, body: &[u8], signature: Option<&str>) -> anyhow::Result<StatusCode> {
        let mut req = self.http.post(format!("{}/webhooks/whatsapp", self.base)).header("content-type", "application/json").body(body.to_vec());
        if let Some(sig) = signature {
            req = req.header("x-hub-signature-256", sig);
        }
        Ok(req.send().await?.status())
    }

    /// Delivers messages like Meta does: signed, retried until a 200 (Meta redelivers on errors).
    pub async fn deliver(&self, messages: &[InboundSpec]) -> anyhow::Result<()> {
        let body = serde_json::to_vec(&messages_delivery(messages))?;
        let signature = souk_producers::gateway::sign(&self.tenant.app_secret, &body);
        self.retrying("webhook delivery", || async {
            match self.post_webhook(&body, Some(&signature)).await {
                Ok(s) if s == StatusCode::OK => Ok(Some(())),
                Ok(s) if s.is_server_error() => Ok(None),
                Ok(s) => Err(anyhow!("webhook answered {s}")),
                Err(_) => Ok(None),
            }
        })
        .await
    }

    /// A message spec from `customer` with a fresh timestamp; `wamid` must be unique per message.
    pub fn message(&self, customer: &str, wamid: &str, action: CustomerAction) -> InboundSpec {
        InboundSpec {
            phone_number_id: self.tenant.phone_number_id.clone(),
            from: customer.to_string(),
            profile_name: format!("Customer {customer}"),
            wamid: wamid.to_string(),
            timestamp_s: self.clock_s.fetch_add(1, Ordering::SeqCst),
            action,
        }
    }

    /// The customer types `text` (message id `wamid`).
    pub async fn say(&self, customer: &str, wamid: &str, text: &str) -> anyhow::Result<()> {
        self.deliver(&[self.message(customer, wamid, CustomerAction::Text(text.to_string()))]).await
    }

    /// The customer taps reply button `id`.
    pub async fn press(&self, customer: &str, wamid: &str, id: &str, title: &str) -> anyhow::Result<()> {
        self.deliver(&[self.message(customer, wamid, CustomerAction::Button { id: id.to_string(), title: title.to_string() })]).await
    }

    /// An owner call (`method` `path` with a JSON body) answered with its status and JSON body;
    /// retried while souk is unreachable.
    pub async fn owner(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<(StatusCode, Value)> {
        self.retrying(&format!("{method} {path}"), || async {
            let mut req = self.http.request(method.clone(), format!("{}{}", self.base, path)).bearer_auth(&self.tenant.api_key);
            if let Some(b) = &body {
                req = req.json(b);
            }
            match req.send().await {
                Ok(resp) if resp.status().is_server_error() => Ok(None),
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    Ok(Some((status, serde_json::from_str(&text).unwrap_or(Value::String(text)))))
                }
                Err(_) => Ok(None),
            }
        })
        .await
    }

    /// GET on the read API; 200 ⇒ the JSON, else an error with the answer.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let (status, body) = self.owner(reqwest::Method::GET, path, None).await?;
        if status != StatusCode::OK {
            bail!("GET {path} answered {status}: {body}");
        }
        Ok(body)
    }

    /// An owner command that must be accepted (202); returns its `command_id`.
    pub async fn command(&self, method: reqwest::Method, path: &str, body: Value) -> anyhow::Result<String> {
        let (status, answer) = self.owner(method.clone(), path, Some(body)).await?;
        if status != StatusCode::ACCEPTED {
            bail!("{method} {path} answered {status}: {answer}");
        }
        answer["command_id"].as_str().map(str::to_string).ok_or_else(|| anyhow!("no command_id in {answer}"))
    }

    /// Lists a material+color with its price.
    pub async fn catalog(&self, material: &str, color: &str, price: &str, aliases: &[&str]) -> anyhow::Result<String> {
        self.command(reqwest::Method::PUT, &format!("/v1/catalog/{material}/{color}"), json!({ "price_per_meter": price, "aliases": aliases })).await
    }

    /// Receives a batch of stock.
    pub async fn stock_in(&self, batch: &BatchSpec<'_>) -> anyhow::Result<String> {
        self.command(
            reqwest::Method::POST,
            "/v1/stock",
            json!({ "batch_id": batch.batch_id, "material": batch.material, "color": batch.color, "dye_lot": format!("LOT-{}", batch.batch_id), "rolls": batch.rolls, "meters_per_roll": batch.meters_per_roll, "loose_meters": batch.loose_meters, "received_at": batch.received_at }),
        )
        .await
    }

    /// Approves an order with a caller-chosen command id (a double click reuses nothing: each click
    /// is its own command).
    pub async fn approve(&self, order_id: &str, command_id: &str) -> anyhow::Result<String> {
        self.command(reqwest::Method::POST, &format!("/v1/orders/{order_id}/approve"), json!({ "command_id": command_id, "actor": "owner" })).await
    }

    /// Rejects an order.
    pub async fn reject(&self, order_id: &str, command_id: &str, reason: &str) -> anyhow::Result<String> {
        self.command(reqwest::Method::POST, &format!("/v1/orders/{order_id}/reject"), json!({ "command_id": command_id, "actor": "owner", "reason": reason })).await
    }

    /// Records a payment.
    pub async fn payment(&self, payment_id: &str, customer: &str, amount: &str) -> anyhow::Result<String> {
        self.command(reqwest::Method::POST, "/v1/payments", json!({ "payment_id": payment_id, "customer": customer, "amount": amount, "method": "UPI" })).await
    }

    /// The customer's newest order (read API), if any.
    pub async fn latest_order(&self, customer: &str) -> anyhow::Result<Option<Value>> {
        let list = self.get(&format!("/v1/orders?customer={customer}&limit=1")).await?;
        Ok(list["orders"].as_array().and_then(|a| a.first()).cloned())
    }

    /// Polls until the customer's newest order is in `state`; returns it.
    pub async fn wait_order_state(&self, customer: &str, state: &str) -> anyhow::Result<Value> {
        self.wait(&format!("order of {customer} in {state}"), || async { Ok(self.latest_order(customer).await?.filter(|o| o["state"] == state)) }).await
    }

    /// The full order (lines, history, invoice).
    pub async fn order(&self, order_id: &str) -> anyhow::Result<Value> {
        self.get(&format!("/v1/orders/{order_id}")).await
    }

    /// Polls until the outcome of an owner command is projected; returns it.
    pub async fn wait_command(&self, command_id: &str) -> anyhow::Result<Value> {
        self.wait(&format!("outcome of command {command_id}"), || async {
            let (status, body) = self.owner(reqwest::Method::GET, &format!("/v1/commands/{command_id}"), None).await?;
            Ok((status == StatusCode::OK).then_some(body))
        })
        .await
    }

    /// Polls `probe` every 200 ms until it yields a value or [`Self::patience`] runs out; an error
    /// from `probe` is final.
    pub async fn wait<T, F, Fut>(&self, what: &str, probe: F) -> anyhow::Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = anyhow::Result<Option<T>>>,
    {
        let deadline = Instant::now() + self.patience;
        loop {
            if let Some(v) = probe().await.with_context(|| format!("while waiting for {what}"))? {
                return Ok(v);
            }
            if Instant::now() > deadline {
                bail!("timed out after {:?} waiting for {what}", self.patience);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn retrying<T, F, Fut>(&self, what: &str, attempt: F) -> anyhow::Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = anyhow::Result<Option<T>>>,
    {
        self.wait(what, attempt).await.with_context(|| format!("{what}: souk did not answer"))
    }
}
