//! The demo story (docs/rules/textile.md): a textile wholesaler's catalog and stock, then real webhook
//! deliveries for a handful of customers — the golden path, a Hinglish multi-item order, a
//! partial-stock negotiation with alternatives, an oversell race, a duplicate delivery, a reject and a
//! cancel — with a readable transcript of customer ⇄ souk and the owner's actions.
//!
//! Every id in the story (wamids, command ids, payment ids) is fixed, so playing it again against the
//! same souk (e.g. after a crash) changes nothing: that is what the kill -9 test relies on.

use super::client::{BatchSpec, SoukClient};
use anyhow::{bail, Context};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The demo's customers: (wa_id, name).
pub const ASHA: (&str, &str) = ("919800000001", "Asha");
/// Hinglish multi-item buyer.
pub const RAVI: (&str, &str) = ("919800000002", "Ravi");
/// Negotiates a partial and an out-of-stock line.
pub const MEENA: (&str, &str) = ("919800000003", "Meena");
/// First in the linen race.
pub const KIRAN: (&str, &str) = ("919800000004", "Kiran");
/// Second in the linen race.
pub const FARHAN: (&str, &str) = ("919800000005", "Farhan");
/// Gets rejected by the owner.
pub const SUNIL: (&str, &str) = ("919800000006", "Sunil");
/// Cancels at the summary.
pub const POOJA: (&str, &str) = ("919800000007", "Pooja");

/// Prints the conversation as it happens: customer lines, souk's replies, owner actions.
pub struct Transcript {
    seen: Mutex<BTreeMap<String, usize>>,
    quiet: bool,
}

impl Transcript {
    /// A transcript printing to stdout (`quiet` = collect nothing, print nothing: tests).
    pub fn new(quiet: bool) -> Transcript {
        Transcript { seen: Mutex::new(BTreeMap::new()), quiet }
    }

    fn print(&self, line: String) {
        if !self.quiet {
            println!("{line}");
        }
    }

    /// A section heading.
    pub fn scene(&self, title: &str) {
        self.print(format!("\n── {title} ──"));
    }

    /// The owner did something.
    pub fn owner(&self, what: &str) {
        self.print(format!("  [owner]  {what}"));
    }

    /// A customer said something.
    pub fn customer(&self, who: &str, text: &str) {
        self.print(format!("  {who:>7} → {text}"));
    }

    /// souk said something that is not a WhatsApp message (e.g. in a bundle's thread).
    pub fn souk(&self, to: &str, text: &str) {
        self.print(format!("     souk → {to}: {text}"));
    }

    /// Waits until `customer` has received `count` more replies than already printed, then prints
    /// them (text and buttons). Returns the new replies.
    pub async fn replies(&self, client: &SoukClient, (wa_id, name): (&str, &str), count: usize) -> anyhow::Result<Vec<Value>> {
        let already = *self.seen.lock().expect("transcript lock").get(wa_id).unwrap_or(&0);
        let all = client
            .wait(&format!("{count} new replies to {name}"), || async {
                let out = outbound_messages(client, wa_id).await?;
                Ok((out.len() >= already + count).then_some(out))
            })
            .await?;
        let fresh: Vec<Value> = all[already..].to_vec();
        self.seen.lock().expect("transcript lock").insert(wa_id.to_string(), all.len());
        for m in &fresh {
            let buttons: Vec<&str> = m["buttons"].as_array().map(|b| b.iter().filter_map(|x| x["title"].as_str()).collect()).unwrap_or_default();
            let text = m["text"].as_str().unwrap_or("").replace('\n', "\n            ");
            let cta = if buttons.is_empty() { String::new() } else { format!("\n            [{}]", buttons.join("] [")) };
            self.print(format!("     souk → {name}: {text}{cta}"));
        }
        Ok(fresh)
    }
}

/// Every outbound message to `wa_id`, in the order souk decided them (the read API's order:
/// time, then the position in the customer's outbound partition for replies decided together).
pub async fn outbound_messages(client: &SoukClient, wa_id: &str) -> anyhow::Result<Vec<Value>> {
    let list = client.get(&format!("/v1/messages?customer={wa_id}")).await?;
    Ok(list["messages"].as_array().cloned().unwrap_or_default().into_iter().filter(|m| m["direction"] == "out").collect())
}

/// Lists the demo catalog and receives its stock (idempotent: fixed batch ids and command ids).
pub async fn seed(client: &SoukClient, t: &Transcript) -> anyhow::Result<()> {
    t.scene("owner seeds the catalog and stock");
    let catalog = [
        ("cotton", "blue", "120.00", vec!["sooti"]),
        ("cotton", "red", "118.00", vec!["sooti"]),
        ("cotton", "white", "110.00", vec!["sooti"]),
        ("polyester", "red", "85.50", vec!["poly"]),
        ("polyester", "blue", "85.50", vec!["poly"]),
        ("silk", "red", "450.00", vec!["resham"]),
        ("silk", "green", "460.00", vec!["resham"]),
        ("silk", "white", "455.00", vec!["resham"]),
        ("linen", "white", "310.00", vec![]),
    ];
    for (material, color, price, aliases) in &catalog {
        client.catalog(material, color, price, aliases).await?;
    }
    t.owner(&format!("listed {} material/color pools with prices", catalog.len()));
    let stock = [
        ("CB-001", "cotton", "blue", 2, "10.000", "0.000", "2026-01-05T09:00:00Z"),
        ("CB-002", "cotton", "blue", 3, "25.000", "4.000", "2026-02-10T09:00:00Z"),
        ("CR-001", "cotton", "red", 4, "25.000", "0.000", "2026-01-20T09:00:00Z"),
        ("CW-001", "cotton", "white", 2, "30.000", "12.500", "2026-01-22T09:00:00Z"),
        ("PR-001", "polyester", "red", 1, "30.000", "6.000", "2026-02-01T09:00:00Z"),
        ("SR-001", "silk", "red", 0, "20.000", "15.000", "2026-02-03T09:00:00Z"),
        ("SW-001", "silk", "white", 1, "20.000", "8.000", "2026-02-04T09:00:00Z"),
        ("LW-001", "linen", "white", 1, "50.000", "0.000", "2026-02-06T09:00:00Z"),
    ];
    for (batch, material, color, rolls, per_roll, loose, at) in &stock {
        client.stock_in(&BatchSpec { batch_id: batch, material, color, rolls: *rolls, meters_per_roll: per_roll, loose_meters: loose, received_at: at }).await?;
    }
    t.owner(&format!("received {} batches (rolls + loose meters); green silk and blue polyester are out of stock", stock.len()));
    client
        .wait("the catalog to reach the read model", || async {
            let view = client.get("/v1/stock").await?;
            let pools = view["pools"].as_array().map(Vec::len).unwrap_or(0);
            let batches = view["batches"].as_array().map(Vec::len).unwrap_or(0);
            let priced = view["pools"].as_array().map(|p| p.iter().all(|x| !x["price_per_meter"].is_null())).unwrap_or(false);
            Ok((pools >= catalog.len() && batches >= stock.len() && priced).then_some(()))
        })
        .await
        .context("seeding")?;
    Ok(())
}

/// The order id of the customer's newest order in `state`.
async fn order_in(client: &SoukClient, who: (&str, &str), state: &str) -> anyhow::Result<String> {
    let order = client.wait_order_state(who.0, state).await?;
    order["order_id"].as_str().map(str::to_string).ok_or_else(|| anyhow::anyhow!("order without id: {order}"))
}

async fn say(client: &SoukClient, t: &Transcript, who: (&str, &str), wamid: &str, text: &str, replies: usize) -> anyhow::Result<Vec<Value>> {
    t.customer(who.1, text);
    client.say(who.0, wamid, text).await?;
    t.replies(client, who, replies).await
}

async fn press(client: &SoukClient, t: &Transcript, who: (&str, &str), wamid: &str, id: &str, title: &str, replies: usize) -> anyhow::Result<Vec<Value>> {
    t.customer(who.1, &format!("(taps \"{title}\")"));
    client.press(who.0, wamid, id, title).await?;
    t.replies(client, who, replies).await
}

/// The id of the first button of the last reply whose id starts with `prefix`.
fn button(replies: &[Value], prefix: &str) -> anyhow::Result<(String, String)> {
    for r in replies.iter().rev() {
        for b in r["buttons"].as_array().into_iter().flatten() {
            if b["id"].as_str().is_some_and(|id| id.starts_with(prefix)) {
                return Ok((b["id"].as_str().unwrap_or_default().to_string(), b["title"].as_str().unwrap_or_default().to_string()));
            }
        }
    }
    bail!("no button {prefix}* in {replies:?}")
}

/// Plays the whole story; each scene waits for souk's answers before going on.
pub async fn play(client: &SoukClient, t: &Transcript) -> anyhow::Result<()> {
    let owner_approves = |order_id: String, command_id: &'static str| async move {
        t.owner(&format!("approves order {}", &order_id[..8]));
        let cmd = client.approve(&order_id, command_id).await?;
        client.wait_command(&cmd).await
    };

    t.scene("golden path: 20m blue cotton → confirm → owner approves → invoice");
    say(client, t, ASHA, "wamid.demo.asha.1", "Hi, I need 20m blue cotton", 1).await?;
    press(client, t, ASHA, "wamid.demo.asha.2", "confirm", "Confirm", 1).await?;
    let asha_order = order_in(client, ASHA, "WAITING_OWNER_CONFIRMATION").await?;
    owner_approves(asha_order.clone(), "demo-approve-asha").await?;
    t.replies(client, ASHA, 1).await?;
    client.wait_order_state(ASHA.0, "ORDER_COMPLETED").await?;

    t.scene("duplicate delivery: Meta redelivers Asha's first message");
    t.customer(ASHA.1, "(same wamid delivered again)");
    client.say(ASHA.0, "wamid.demo.asha.1", "Hi, I need 20m blue cotton").await?;
    t.owner("nothing happens: the order session already applied that wamid");

    t.scene("Hinglish multi-item order");
    say(client, t, RAVI, "wamid.demo.ravi.1", "bhaiya 10m neela cotton aur 6m laal polyester chahiye", 1).await?;
    press(client, t, RAVI, "wamid.demo.ravi.2", "confirm", "Confirm", 1).await?;
    let ravi_order = order_in(client, RAVI, "WAITING_OWNER_CONFIRMATION").await?;
    owner_approves(ravi_order, "demo-approve-ravi").await?;
    t.replies(client, RAVI, 1).await?;

    t.scene("partial stock and an out-of-stock line: accept available, ask for alternatives");
    let r = say(client, t, MEENA, "wamid.demo.meena.1", "20m red silk and 10m green silk", 1).await?;
    let (id, title) = button(&r, "accept_available:")?;
    let r = press(client, t, MEENA, "wamid.demo.meena.2", &id, &title, 1).await?;
    let (id, title) = button(&r, "alternatives:")?;
    let r = press(client, t, MEENA, "wamid.demo.meena.3", &id, &title, 1).await?;
    let (id, title) = button(&r, "replace:")?;
    press(client, t, MEENA, "wamid.demo.meena.4", &id, &title, 1).await?;
    press(client, t, MEENA, "wamid.demo.meena.5", "confirm", "Confirm", 1).await?;
    let meena_order = order_in(client, MEENA, "WAITING_OWNER_CONFIRMATION").await?;
    owner_approves(meena_order, "demo-approve-meena").await?;
    t.replies(client, MEENA, 1).await?;

    t.scene("oversell race: two customers want the only 50 m roll of white linen");
    say(client, t, KIRAN, "wamid.demo.kiran.1", "40m white linen", 1).await?;
    say(client, t, FARHAN, "wamid.demo.farhan.1", "need 40 meter white linen", 1).await?;
    press(client, t, KIRAN, "wamid.demo.kiran.2", "confirm", "Confirm", 1).await?;
    order_in(client, KIRAN, "WAITING_OWNER_CONFIRMATION").await?;
    press(client, t, FARHAN, "wamid.demo.farhan.2", "confirm", "Confirm", 1).await?;
    order_in(client, FARHAN, "CUSTOMER_NEGOTIATION").await?;
    t.owner("Kiran's hold won; Farhan is back in negotiation with the fresh availability");
    say(client, t, FARHAN, "wamid.demo.farhan.3", "ok then cancel the whole order", 1).await?;
    order_in(client, FARHAN, "ORDER_CANCELLED").await?;
    let kiran_order = order_in(client, KIRAN, "WAITING_OWNER_CONFIRMATION").await?;
    owner_approves(kiran_order, "demo-approve-kiran").await?;
    t.replies(client, KIRAN, 1).await?;

    t.scene("the owner rejects an order");
    say(client, t, SUNIL, "wamid.demo.sunil.1", "5m red polyester", 1).await?;
    press(client, t, SUNIL, "wamid.demo.sunil.2", "confirm", "Confirm", 1).await?;
    let sunil_order = order_in(client, SUNIL, "WAITING_OWNER_CONFIRMATION").await?;
    t.owner(&format!("rejects order {}", &sunil_order[..8]));
    let cmd = client.reject(&sunil_order, "demo-reject-sunil", "customer owes too much").await?;
    client.wait_command(&cmd).await?;
    t.replies(client, SUNIL, 1).await?;

    t.scene("a customer cancels at the summary");
    say(client, t, POOJA, "wamid.demo.pooja.1", "12m white cotton", 1).await?;
    press(client, t, POOJA, "wamid.demo.pooja.2", "cancel_order", "Cancel", 1).await?;
    order_in(client, POOJA, "ORDER_CANCELLED").await?;

    t.scene("Asha pays part of her invoice");
    t.owner("records ₹1,000.00 from Asha (UPI)");
    client.payment("demo-pay-asha-1", ASHA.0, "1000.00").await?;
    t.replies(client, ASHA, 1).await?;
    Ok(())
}
