//! Staff roles as claims on per-tenant API keys, on the real stack (source 002 §a.1; rules AU1):
//! each key's role decides what it may do, before any handler runs — a viewer reads but answers
//! no one, an operator answers customers and counts stock but creates no products and erases no
//! customer, an admin cannot change settings; refused with 403 "Insufficient permissions", and
//! nothing is produced. The owner's key may do everything; an unknown key is a 401.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use souk_schemas::products::ProductCommand;
use support::textile::Textile;

async fn call(t: &Textile, key: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", t.client.base())).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_does_what_its_permissions_allow_and_nothing_else() {
    let t = Textile::start_unseeded("roles").await;
    let key = |role: &str| t.client.tenant.staff_key(role).unwrap().to_string();
    let product = json!({"name": "Linen shirt", "base_price": "29.99"});
    let adjust = json!({"variant_id": "prd-x:1", "adjustment": 2, "reason": "count"});
    let reply = json!({"text": "Hello!"});
    let settings = json!({"gst_rate": "0.05", "reminder_days": 7});
    let cases: Vec<(&str, Method, &str, Option<Value>, StatusCode)> = vec![
        ("viewer", Method::GET, "/v1/conversations", None, StatusCode::OK),
        ("viewer", Method::GET, "/v1/inventory/products", None, StatusCode::OK),
        ("viewer", Method::POST, "/v1/inventory/stock/adjust", Some(adjust.clone()), StatusCode::FORBIDDEN),
        ("viewer", Method::POST, "/v1/conversations/instagram-ab12/replies", Some(reply.clone()), StatusCode::FORBIDDEN),
        ("operator", Method::POST, "/v1/inventory/stock/adjust", Some(adjust.clone()), StatusCode::ACCEPTED),
        ("operator", Method::POST, "/v1/inventory/products", Some(product.clone()), StatusCode::FORBIDDEN),
        ("operator", Method::POST, "/v1/conversations/instagram-ab12/erase", Some(json!({"reason": "asked"})), StatusCode::FORBIDDEN),
        ("operator", Method::PUT, "/v1/settings", Some(settings.clone()), StatusCode::FORBIDDEN),
        ("admin", Method::POST, "/v1/inventory/products", Some(product.clone()), StatusCode::ACCEPTED),
        ("admin", Method::PUT, "/v1/settings", Some(settings.clone()), StatusCode::FORBIDDEN),
        ("admin", Method::GET, "/v1/orders", None, StatusCode::OK),
    ];
    for (role, method, path, body, expected) in cases {
        let (status, answer) = call(&t, &key(role), method.clone(), path, body).await;
        assert_eq!(status, expected, "{role} {method} {path}: {answer}");
        if expected == StatusCode::FORBIDDEN {
            assert_eq!(answer["reason"], "Insufficient permissions", "{answer}");
        }
    }
    let owner = t.client.tenant.api_key.clone();
    assert_eq!(call(&t, &owner, Method::PUT, "/v1/settings", Some(settings)).await.0, StatusCode::ACCEPTED);
    assert_eq!(call(&t, "not-a-key", Method::GET, "/v1/conversations", None).await.0, StatusCode::UNAUTHORIZED);
    // Only the allowed commands reached the log: the operator's adjustment and the admin's product.
    t.caught_up("product-inventory", "products.commands").await;
    let commands: Vec<ProductCommand> = support::inbox::decoded(&t, "products.commands").await;
    // (Two products: two keys, so the topic's partitions hold them in either order.)
    let mut kinds: Vec<&str> = commands
        .iter()
        .filter_map(|c| match c {
            ProductCommand::StockAdjustRequested(_) => Some("adjust"),
            ProductCommand::ProductDefined(_) => Some("define"),
            ProductCommand::Tick(_) => None,
            _ => Some("other"),
        })
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["adjust", "define"]);
}
