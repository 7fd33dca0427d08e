//! Products, variants and stock of the social inbox on the real stack, through HTTP (source 002
//! table (f) examples 6 and 9–13; rules IV1–IV5, C4): a signed adjustment with its previous and new
//! stock, negative stock refused, availability with the inclusive thresholds, a low-stock crossing
//! notified once at medium priority, a restock when leaving zero, the CSV import's row errors —
//! and customers asking on Instagram answered from the availability table at 0.92, never with a
//! count.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::inbox::{eventually, say};
use support::textile::Textile;

/// Creates a product of `variants` `(name, size, stock, threshold)`; its id and variant ids.
async fn product(t: &Textile, name: &str, category: &str, variants: &[(&str, &str, i64, i64)]) -> (String, Vec<String>) {
    let variants: Vec<Value> = variants.iter().map(|(n, size, stock, threshold)| json!({"name": n, "stock_quantity": stock, "low_stock_threshold": threshold, "attributes": {"size": size}})).collect();
    let (status, answer) = t.client.owner(Method::POST, "/v1/inventory/products", Some(json!({"name": name, "category": category, "base_price": "29.99", "variants": variants}))).await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let ids = answer["variant_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    (answer["product_id"].as_str().unwrap().to_string(), ids)
}

/// The product once the read side shows `check` true of it.
async fn product_when(t: &Textile, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    eventually(what, async || {
        let p = t.client.get(&format!("/v1/inventory/products/{id}")).await.ok()?;
        check(&p).then_some(p)
    })
    .await
}

/// The outcome of a command once it is known.
async fn outcome(t: &Textile, command_id: &str) -> Value {
    eventually("the command's outcome", async || t.client.get(&format!("/v1/commands/{command_id}")).await.ok()).await
}

async fn adjust(t: &Textile, variant: &str, by: i64, reason: &str) -> String {
    t.client.command(Method::POST, "/v1/inventory/stock/adjust", json!({"variant_id": variant, "adjustment": by, "reason": reason})).await.unwrap()
}

fn notifications_of(feed: &Value, kind: &str) -> Vec<Value> {
    feed["notifications"].as_array().unwrap().iter().filter(|n| n["type"] == kind || n["kind"] == kind).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_adjustments_crossings_and_the_csv_import() {
    let t = Textile::start_unseeded("inbox-stock").await;

    // Example 9: from 5, +10 "restock" ⇒ previous 5, new 15.
    let (tote, tote_variants) = product(&t, "Canvas tote", "other", &[("Default", "One size", 5, 10)]).await;
    let command = adjust(&t, &tote_variants[0], 10, "restock").await;
    let answer = outcome(&t, &command).await;
    assert_eq!((answer["accepted"].as_bool(), answer["product_id"].as_str()), (Some(true), Some(tote.as_str())), "{answer}");
    let movements = t.client.get(&format!("/v1/inventory/movements?variant_id={}", tote_variants[0])).await.unwrap();
    let last = &movements["movements"][0];
    assert_eq!((last["previous_stock"].as_i64(), last["new_stock"].as_i64(), last["adjustment"].as_i64(), last["reason"].as_str()), (Some(5), Some(15), Some(10), Some("restock")));
    // Never below zero: a clear refusal, nothing changes.
    let refused = outcome(&t, &adjust(&t, &tote_variants[0], -16, "count").await).await;
    assert_eq!((refused["accepted"].as_bool(), refused["code"].as_str()), (Some(false), Some("NEGATIVE_STOCK")), "{refused}");
    assert!(refused["detail"].as_str().unwrap().contains("below zero"), "{refused}");
    assert_eq!(product_when(&t, &tote, "the tote", |p| p["total_stock"] == 15).await["availability"], "available");

    // Example 12: the total equal to the threshold is low stock.
    let (hat, _) = product(&t, "Wool hat", "clothing", &[("Default", "One size", 5, 5)]).await;
    assert_eq!(product_when(&t, &hat, "the hat", |p| p["availability"] != Value::Null).await["availability"], "low_stock");

    // Example 10: 8 → 3 against a threshold of 5 crosses downward: one medium notification with
    // current_stock 3 and threshold 5; going lower while low raises no second one.
    let (scarf, scarf_variants) = product(&t, "Silk scarf", "clothing", &[("Blue", "S", 6, 5), ("Red", "M", 2, 8)]).await;
    product_when(&t, &scarf, "the scarf available", |p| p["availability"] == "available").await;
    adjust(&t, &scarf_variants[0], -5, "sold").await;
    let low = product_when(&t, &scarf, "the scarf low", |p| p["total_stock"] == 3).await;
    assert_eq!(low["availability"], "low_stock");
    let crossing = eventually("the low-stock notification", async || {
        let feed = t.client.get("/v1/notifications").await.ok()?;
        notifications_of(&feed, "low_stock").into_iter().next()
    })
    .await;
    assert_eq!((crossing["priority"].as_str(), crossing["context"]["current_stock"].as_i64(), crossing["context"]["threshold"].as_i64()), (Some("medium"), Some(3), Some(5)), "{crossing}");
    adjust(&t, &scarf_variants[1], -1, "sold").await;
    product_when(&t, &scarf, "the scarf at 2", |p| p["total_stock"] == 2).await;
    // Example 11 and the restock: out of stock, then back.
    adjust(&t, &scarf_variants[0], -1, "sold").await;
    adjust(&t, &scarf_variants[1], -1, "sold").await;
    product_when(&t, &scarf, "the scarf out", |p| p["availability"] == "out_of_stock").await;
    adjust(&t, &scarf_variants[0], 6, "delivery").await;
    let restock = eventually("the restock notification", async || notifications_of(&t.client.get("/v1/notifications").await.ok()?, "restock").into_iter().next()).await;
    assert_eq!(restock["title"], "Back in stock: Silk scarf");
    let feed = t.client.get("/v1/notifications").await.unwrap();
    assert_eq!(notifications_of(&feed, "low_stock").len(), 1, "crossing downward once, not at every sale: {feed}");

    // Example 13: a row without price and stock fails with its number (from 2); the others import.
    let csv = "name,price,stock,category,low_stock_threshold\nLinen apron,19.50,12,other,3\nBroken row,,,other,\n\"Apron, striped\",21.00,0,other,\n";
    let resp = reqwest::Client::new().post(format!("{}/v1/inventory/import", t.client.base())).bearer_auth(&t.client.tenant.api_key).header("content-type", "text/csv").body(csv).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let report: Value = resp.json().await.unwrap();
    assert_eq!((report["imported"].as_i64(), report["failed"].as_i64()), (Some(2), Some(1)), "{report}");
    assert_eq!((report["errors"][0]["row"].as_i64(), report["errors"][0]["error"].as_str()), (Some(3), Some("Missing fields: price, stock")));
    assert_eq!(report["errors"][0]["data"]["name"], "Broken row");
    let imported = report["product_ids"][1].as_str().unwrap().to_string();
    let apron = product_when(&t, &imported, "the imported apron", |p| p["variants"].as_array().is_some_and(|v| !v.is_empty())).await;
    assert_eq!((apron["name"].as_str(), apron["base_price"].as_str(), apron["availability"].as_str()), (Some("Apron, striped"), Some("21.00"), Some("out_of_stock")));
    assert_eq!((apron["variants"][0]["name"].as_str(), apron["variants"][0]["low_stock_threshold"].as_i64()), (Some("Default"), Some(10)));
    let listed = eventually("the catalog listing", async || {
        let page = t.client.get("/v1/inventory/products?category=other&limit=2").await.ok()?;
        (page["pagination"]["total_items"] == 3).then_some(page)
    })
    .await;
    assert_eq!((listed["pagination"]["total_pages"].as_i64(), listed["products"].as_array().unwrap().len()), (Some(2), 2));
    let low_only = t.client.get("/v1/inventory/products?low_stock=true").await.unwrap();
    let names: Vec<&str> = low_only["products"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Apron, striped", "Wool hat"], "{low_only}");
    // The same file again defines the same products: nothing new.
    let again: Value = reqwest::Client::new()
        .post(format!("{}/v1/inventory/import", t.client.base()))
        .bearer_auth(&t.client.tenant.api_key)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["product_ids"], report["product_ids"]);
    t.caught_up("products-postgres", "products.events").await;
    assert_eq!(t.client.get("/v1/inventory/products?category=other").await.unwrap()["pagination"]["total_items"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_asking_after_a_product_are_answered_from_the_availability_table() {
    let t = Textile::start_unseeded("inbox-ask").await;
    let (shirt, _) = product(&t, "Linen shirt", "clothing", &[("Small", "S", 3, 2), ("Medium", "M", 4, 2), ("Large", "L", 0, 2)]).await;
    let (scarf, _) = product(&t, "Wool scarf", "clothing", &[("Default", "One size", 0, 10)]).await;
    product_when(&t, &shirt, "the shirt", |p| p["availability"] == "available").await;
    product_when(&t, &scarf, "the scarf", |p| p["availability"] == "out_of_stock").await;

    // Example 6: confidence 0.92 ≥ 0.80 ⇒ auto_sent, with the a.6 template and no count.
    let (status, _) = say(&t, &[("ig-ask-1", "mid.ask.1", "Do you have the linen shirt in size M?"), ("ig-ask-2", "mid.ask.2", "Is the wool scarf in stock?")]).await;
    assert_eq!(status, StatusCode::OK);
    let sent = eventually("both answers sent", async || {
        let sent: Vec<_> = t.whatsapp.requests().into_iter().filter(|r| r.path == "/v17.0/me/messages").collect();
        (sent.len() == 2).then_some(sent)
    })
    .await;
    let to = |who: &str| sent.iter().find(|r| r.to() == Some(who)).and_then(|r| r.text().map(str::to_string)).unwrap();
    assert_eq!(to("ig-ask-1"), "Yes, Linen shirt in M is currently available!");
    // Example 11: out of stock, the "notify when back" template and alternatives of its category.
    assert_eq!(to("ig-ask-2"), "I'm sorry, Wool scarf is currently out of stock. Would you like to be notified when it's back? You might also like Linen shirt.");
    let replies = eventually("the replies projected", async || {
        let r = t.client.get("/v1/replies?status=sent").await.ok()?;
        (r["replies"].as_array()?.len() == 2).then_some(r)
    })
    .await;
    for reply in replies["replies"].as_array().unwrap() {
        assert_eq!(reply["confidence_score"], "0.920", "{reply}");
        assert!(reply["reason"].as_str().unwrap().contains("availability of product"), "{reply}");
        assert!(!reply["sent_text"].as_str().unwrap().chars().any(|c| c.is_ascii_digit()), "never a stock count: {reply}");
    }
}
