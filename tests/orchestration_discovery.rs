//! Discovery end to end through HTTP on the real stack (docs/rules/discovery.md): partners and
//! products declared over the gateway reach the search index through their topics; `GET
//! /v1/discover` filters and ranks them and answers in the chat-first envelope; the ranking weights
//! and a promotion changed at run time reorder the next answer; a removed partner's products are
//! found by nobody; `GET /v1/search` finds partners, products and a bundle's chat.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use souk::demo::flowers;
use souk_producers::simulator::live_demo::{florist, product};
use support::orchestration::{rfc, HOUR};
use support::textile::Textile;

/// The ids of a discovery's products, best first.
fn ids(answer: &Value) -> Vec<String> {
    answer["data"]["products"].as_array().unwrap().iter().map(|p| p["product_id"].as_str().unwrap().to_string()).collect()
}

/// Waits until `path` discovers exactly `expected` (in order).
async fn discovers(t: &Textile, path: &str, expected: &[&str]) -> Value {
    let what = format!("{path} to discover {expected:?}");
    let found = t.client.wait(&what, || async {
        let answer = t.client.get(path).await?;
        Ok((ids(&answer) == expected).then_some(answer))
    });
    found.await.unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn discovery_filters_ranks_by_weights_set_at_run_time_and_answers_chat_first() {
    let t = Textile::start_unseeded("discover").await;
    let c = &t.client;
    // seed-000 §6.1's florists (both trust 100, White Glove), and a new, unverified one (trust 0)
    // whose pink flowers are cheaper but who sells a bouquet over the price window too.
    flowers::declare_partners(c, "55.00").await.unwrap();
    let mut newcomer = florist("Flower Shop C", (40.73, -73.99), "1234567892", true);
    newcomer["verification"] = json!({});
    newcomer["positive_reviews"] = json!(0);
    newcomer["on_time_percent"] = json!(null);
    let answer = c.owner(Method::PUT, "/v1/partners/partner-c", Some(newcomer)).await.unwrap();
    assert_eq!((answer.0.as_u16(), &answer.1["trust_score"]), (202, &json!(0)), "{}", answer.1);
    c.command(Method::PUT, "/v1/products/pink-flowers-c", product("partner-c", "Pink Flowers", "45.00", true)).await.unwrap();
    c.command(Method::PUT, "/v1/products/pink-bouquet-c", product("partner-c", "Pink Flowers bouquet", "61.00", true)).await.unwrap();
    let mut sold_out = product("partner-b", "Pink Flowers", "50.00", true);
    sold_out["inventory_count"] = json!(0);
    c.command(Method::PUT, "/v1/products/pink-sold-out-b", sold_out).await.unwrap();

    // Re-sourcing's question as a scout query: pink flowers, not from A, within 0.8–1.2 × 50.00.
    let window = "/v1/discover?q=pink%20flowers&exclude_vendor=partner-a&min_price=40.00&max_price=60.00&capabilities=florist&location=40.7484,-73.9857";
    let answer = discovers(&t, window, &["pink-flowers-b", "pink-flowers-c"]).await;
    let best = &answer["data"]["products"][0];
    assert_eq!((best["price"].as_str(), best["partner"]["white_glove"].as_bool()), (Some("55.00"), Some(true)), "{best}");
    assert!(best["partner"]["distance_km"].as_f64().unwrap() > 0.0 && best["partner"]["arrival_minutes"].as_i64().unwrap() >= 20, "{best}");
    assert_eq!(answer["data"]["weights"], json!({ "relevance": "0.40", "boost": "0.30", "quality": "0.20", "margin": "0.10" }));
    let ld = &answer["machine_readable"];
    assert_eq!((ld["@context"].as_str(), ld["@type"].as_str(), ld["numberOfItems"].as_u64()), (Some("https://schema.org"), Some("ItemList"), Some(2)), "{ld}");
    let offer = &ld["itemListElement"][0]["item"]["offers"];
    assert_eq!((offer["@type"].as_str(), offer["price"].as_str(), offer["priceCurrency"].as_str()), (Some("Offer"), Some("55.00"), Some("USD")), "{offer}");
    let card = &answer["adaptive_card"];
    assert_eq!((card["type"].as_str(), card["version"].as_str()), (Some("AdaptiveCard"), Some("1.5")));
    let buttons: Vec<&str> = card["body"][1]["items"][2]["actions"].as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap()).collect();
    assert_eq!(buttons, ["Add to Bundle", "View Details"]);
    let meta = &answer["metadata"];
    assert_eq!(meta["api_version"], "v1");
    assert!(uuid::Uuid::parse_str(meta["request_id"].as_str().unwrap()).is_ok() && meta["timestamp"].as_str().unwrap().ends_with('Z'), "{meta}");
    // Without the window the bouquet (61.00) and A's red flowers are back; the sold-out one never.
    let mut everything = ids(&c.get("/v1/discover?q=flowers&limit=50").await.unwrap());
    everything.sort();
    assert_eq!(everything, ["pink-bouquet-c", "pink-flowers-b", "pink-flowers-c", "red-flowers-a"]);

    // A sponsored promotion for C is not enough under the default weights (B: 0.4 + 0.3·0.6 + 0.2·1
    // = 0.78; C: 0.4 + 0.3·1 = 0.70) ...
    c.command(Method::PUT, "/v1/ranking/boosts/partner-c", json!({ "promotion_type": "sponsored" })).await.unwrap();
    let default = discovers(&t, window, &["pink-flowers-b", "pink-flowers-c"]).await;
    let boost_of = |a: &Value, i: usize| a["data"]["products"][i]["ranking"]["boost"].as_f64().unwrap();
    let promoted = t.client.wait("the promotion indexed", || async {
        let a = c.get(window).await?;
        Ok((boost_of(&a, 1) == 1.0).then_some(a))
    });
    let promoted = promoted.await.unwrap();
    assert_eq!(ids(&promoted), ids(&default));
    // ... but weights that count only promotions put C first on the next query (1 against B's 0.6).
    let (status, set) = c.owner(Method::PUT, "/v1/ranking/config", Some(json!({ "relevance": "0.00", "boost": "1.00", "quality": "0.00", "margin": "0.00" }))).await.unwrap();
    assert_eq!(status, 202, "{set}");
    let reordered = discovers(&t, window, &["pink-flowers-c", "pink-flowers-b"]).await;
    assert_eq!(reordered["data"]["weights"]["boost"], "1.00");
    let config = c.get("/v1/ranking/config").await.unwrap();
    assert_eq!((config["source"].as_str(), config["weights"]["boost"].as_str()), (Some("set"), Some("1.00")), "{config}");
    let (status, refused) = c.owner(Method::PUT, "/v1/ranking/config", Some(json!({ "relevance": "0.50", "boost": "0.50", "quality": "0.10", "margin": "0.00" }))).await.unwrap();
    assert_eq!((status.as_u16(), refused["error"].as_str()), (400, Some("INVALID_FIELD")), "{refused}");
    assert!(refused["reason"].as_str().unwrap().contains("must be 1, not 1.1"), "{refused}");

    // Bad queries are refused with a reason; another key sees nothing of this tenant.
    let (status, bad) = c.owner(Method::GET, "/v1/discover?q=x&min_price=60&max_price=40", None).await.unwrap();
    assert_eq!((status.as_u16(), bad["error"].as_str()), (400, Some("BAD_QUERY")), "{bad}");
    let (status, _) = c.owner(Method::GET, "/v1/discover?location=north", None).await.unwrap();
    assert_eq!(status, 400);
    let stranger = reqwest::Client::new().get(format!("{}/v1/discover?q=pink", c.base())).bearer_auth("not-a-key").send().await.unwrap();
    assert_eq!(stranger.status(), 401);

    // Search finds partners, products and a bundle's chat message, with its thread.
    let partners = c.get("/v1/search?q=flower%20shop&kind=partner").await.unwrap();
    assert_eq!(partners["hits"].as_array().unwrap().len(), 3, "{partners}");
    let now = chrono::Utc::now().timestamp_millis();
    let bundle = flowers::order_bundle(c, "bundle-discover", &rfc(now), &rfc(now + 24 * HOUR), &rfc(now + 26 * HOUR), false).await.unwrap();
    flowers::chat(c, &bundle, "m1", "Could the tulips come instead?").await.unwrap();
    let said = t.client.wait("the chat message searchable", || async {
        let hits = c.get("/v1/search?q=tulips&kind=message").await?;
        Ok(hits["hits"].as_array().and_then(|h| h.first()).cloned())
    });
    let said = said.await.unwrap();
    assert_eq!((said["thread"].as_str(), said["direction"].as_str()), (Some("bundle-discover"), Some("in")), "{said}");

    // A removed partner's products are found by nobody.
    let mut gone = florist("Flower Shop C", (40.73, -73.99), "1234567892", false);
    gone["verification"] = json!({});
    c.command(Method::PUT, "/v1/partners/partner-c", gone).await.unwrap();
    discovers(&t, window, &["pink-flowers-b"]).await;
}
