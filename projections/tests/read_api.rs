//! The read API against real Postgres: rows of two tenants are seeded with plain SQL, the router is
//! served on a loopback port and called over HTTP. Covers the 401s, tenant isolation (a tenant never
//! sees another's order, invoice or outcome — 404), the JSON shape of every endpoint (decimals as
//! strings), and that `/openapi.json` documents every route the router serves.
//! Needs Postgres (`./dev up`; SOUK_DATABASE_URL).

use serde_json::Value;
use souk_projections::api::router;
use souk_runtime::tenants::{Secret, Tenant, Tenants};
use sqlx::PgPool;
use std::sync::Arc;

const CUSTOMER: &str = "919800000001";

struct Api {
    base: String,
    http: reqwest::Client,
    a: String,
    b: String,
}

impl Api {
    async fn get(&self, path: &str, key: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.expect("a JSON body"))
    }

    async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path, Some(KEY_A)).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }
}

const KEY_A: &str = "key-of-tenant-a";
const KEY_B: &str = "key-of-tenant-b";

fn tenant(id: &str, number: &str, key: &str) -> Tenant {
    Tenant {
        id: id.into(),
        name: id.into(),
        phone_number_id: number.into(),
        app_secret: Secret::new("s"),
        verify_token: Secret::new("v"),
        api_key: Secret::new(key),
        access_token: Secret::new("t"),
        intent_confidence_threshold: None,
        payments_secret_key: None,
        instagram: None,
        whatsapp_inbox: false,
        staff: vec![],
        rate_limits: None,
    }
}

async fn exec(pool: &PgPool, sql: &str, tenant: &str) {
    sqlx::query(sql).bind(tenant).execute(pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Tenant A: a waiting order, a completed one with lines, history, invoice and ledger, stock,
/// escalations, messages and a refused command. Tenant B: one order.
async fn seed(pool: &PgPool, a: &str, b: &str) {
    let order = "INSERT INTO orders (tenant_id, order_id, customer, state, previous_state, opened_at, subtotal, negotiation_turns, \
         unknown_streak, cause, cause_wamid, last_event_id, updated_at) VALUES ";
    exec(
        pool,
        &format!(
            "{order} ($1, 'ord-a1', '{CUSTOMER}', 'WAITING_OWNER_CONFIRMATION', 'FINAL_CUSTOMER_CONFIRMATION', \
         '2026-01-01T10:00:00Z', 1255.00, 0, 0, 'CONFIRM', 'wamid.in2', 'e1', '2026-01-01T10:05:00Z'), \
         ($1, 'ord-a2', '{CUSTOMER}', 'ORDER_COMPLETED', 'WAITING_OWNER_CONFIRMATION', '2025-12-01T10:00:00Z', 2510.00, 1, 0, \
         'APPROVE', NULL, 'e2', '2025-12-01T11:00:00Z')"
        ),
        a,
    )
    .await;
    exec(
        pool,
        &format!(
            "{order} ($1, 'ord-b1', '919700000009', 'WAITING_OWNER_CONFIRMATION', NULL, '2026-01-01T09:00:00Z', NULL, \
         0, 0, 'CONFIRM', NULL, 'e3', '2026-01-01T09:00:00Z')"
        ),
        b,
    )
    .await;
    exec(
        pool,
        "INSERT INTO pending_approvals (tenant_id, order_id, customer, subtotal, active_lines, waiting_since, last_event_id, updated_at) \
         VALUES ($1, 'ord-a1', '919800000001', 1255.00, 1, '2026-01-01T10:05:00Z', 'e1', '2026-01-01T10:05:00Z')",
        a,
    )
    .await;
    exec(
        pool,
        "INSERT INTO pending_approvals (tenant_id, order_id, customer, subtotal, active_lines, waiting_since, last_event_id, updated_at) \
         VALUES ($1, 'ord-b1', '919700000009', NULL, 1, '2026-01-01T09:00:00Z', 'e3', '2026-01-01T09:00:00Z')",
        b,
    )
    .await;
    exec(
        pool,
        "INSERT INTO order_lines (tenant_id, order_id, line_id, position, material, color, requested_meters, normalized_meters, \
         status, inventory_status, available_meters, price_per_meter, hold_id, hold_status, allocations) VALUES \
         ($1, 'ord-a2', 'l1', 0, 'cotton', 'blue', 20.000, 20.000, 'ACCEPTED', 'FULL_AVAILABLE', 40.000, 125.50, 'h1', 'COMMITTED', \
         '[{\"batch_id\": \"b1\", \"rolls\": 2, \"meters\": \"20.000\"}]')",
        a,
    )
    .await;
    exec(
        pool,
        "INSERT INTO order_history (tenant_id, order_id, event_id, kind, state, cause, detail, occurred_at) VALUES \
         ($1, 'ord-a2', 'e2', 'ORDER_UPDATED', 'ORDER_COMPLETED', 'APPROVE', '{}', '2025-12-01T11:00:00Z'), \
         ($1, 'ord-a2', 'e4', 'INVOICE_ISSUED', NULL, 'INV-000001', '{\"total\": \"2635.50\"}', '2025-12-01T11:00:01Z')",
        a,
    )
    .await;
    exec(
        pool,
        "INSERT INTO invoices (tenant_id, invoice_id, invoice_number, order_id, customer, subtotal, gst_rate, gst_amount, total, \
         lines, reminder_days, issued_at, last_event_id) VALUES ($1, 'inv-1', 'INV-000001', 'ord-a2', '919800000001', 2510.00, 0.0500, \
         125.50, 2635.50, '[]', 7, '2025-12-01T11:00:01Z', 'e4')",
        a,
    )
    .await;
    exec(
        pool,
        "INSERT INTO ledger_entries (tenant_id, entry_id, customer, kind, reference, invoice_number, amount, total_invoiced, \
         total_paid, outstanding_after, occurred_at) VALUES \
         ($1, 'le-1', '919800000001', 'INVOICE', 'inv-1', 'INV-000001', 2635.50, 2635.50, 0, 2635.50, '2025-12-01T11:00:02Z'), \
         ($1, 'le-2', '919800000001', 'PAYMENT', 'pay-1', NULL, 1000.00, 2635.50, 1000.00, 1635.50, '2025-12-02T11:00:00Z')",
        a,
    )
    .await;
    exec(
        pool,
        "INSERT INTO ledger_balances (tenant_id, customer, total_invoiced, total_paid, outstanding, last_entry_id, updated_at) \
         VALUES ($1, '919800000001', 2635.50, 1000.00, 1635.50, 'le-2', '2025-12-02T11:00:00Z')",
        a,
    )
    .await;
    exec(
        pool,
        "INSERT INTO payments (tenant_id, payment_id, customer, amount, method, reference, recorded_at, event_id) \
         VALUES ($1, 'pay-1', '919800000001', 1000.00, 'UPI', 'r', '2025-12-02T11:00:00Z', 'e5')",
        a,
    )
    .await;
    exec(
        pool,
        "INSERT INTO escalations (tenant_id, escalation_id, customer, order_id, kind, priority, detail, status, raised_at, event_id) VALUES \
         ($1, 'esc-1', '919800000001', 'ord-a1', 'stock', 'high', 'hold expired', 'pending', '2026-01-02T10:00:00Z', 'e6'), \
         ($1, 'esc-2', NULL, NULL, 'stalled', 'medium', 'old', 'resolved', '2025-01-02T10:00:00Z', 'e7')",
        a,
    )
    .await;
    exec(
        pool,
        "INSERT INTO messages (tenant_id, message_id, direction, customer, order_id, kind, text, buttons, status, wamid, \
         occurred_at, last_event_id, updated_at) VALUES \
         ($1, 'wamid.in2', 'in', '919800000001', 'ord-a1', 'button_reply', 'Confirm', '[]', 'received', 'wamid.in2', '2026-01-01T10:04:00Z', 'e8', '2026-01-01T10:04:00Z'), \
         ($1, 'req-1', 'out', '919800000001', 'ord-a1', 'status', 'Waiting for the owner', '[]', 'read', 'wamid.out1', '2026-01-01T10:05:01Z', 'e9', '2026-01-01T10:06:00Z')",
        a,
    )
    .await;
    exec(
        pool,
        "INSERT INTO command_outcomes (tenant_id, command_id, order_id, command, accepted, code, detail, occurred_at, event_id) \
         VALUES ($1, 'cmd-1', 'ord-a2', 'APPROVE', false, 'INVALID_STATE', 'already ORDER_COMPLETED', '2025-12-01T12:00:00Z', 'e10')",
        a,
    )
    .await;
    exec(
        pool,
        "INSERT INTO stock_pools (tenant_id, material, color, on_hand_meters, held_meters, available_meters, last_event_id, updated_at) \
         VALUES ($1, 'cotton', 'blue', 60.000, 20.000, 40.000, 'e11', '2026-01-01T00:00:00Z')",
        a,
    )
    .await;
    exec(
        pool,
        "INSERT INTO stock_batches (tenant_id, material, color, batch_id, dye_lot, rolls, meters_per_roll, loose_meters, held_meters, \
         available_meters, price_per_meter, received_at, last_event_id, updated_at) VALUES ($1, 'cotton', 'blue', 'b1', 'lot-7', 6, 10.000, \
         0.000, 20.000, 40.000, 125.50, '2025-11-01T00:00:00Z', 'e11', '2026-01-01T00:00:00Z')",
        a,
    )
    .await;
}

async fn start() -> Api {
    souk_runtime::testkit::require_stack("read_api").await;
    let url = souk_runtime::stack::database_url();
    let pool = PgPool::connect(&url).await.expect("postgres");
    souk_projections::migrate(&pool).await.expect("migrate");
    let run = souk_runtime::testkit::unique_prefix("api").trim_end_matches('.').to_string();
    let (a, b) = (format!("a-{run}"), format!("b-{run}"));
    seed(&pool, &a, &b).await;
    let tenants = Tenants::from_list(vec![tenant(&a, &format!("1{run}"), KEY_A), tenant(&b, &format!("2{run}"), KEY_B)]).expect("tenants");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let app = router(pool, Arc::new(tenants)).into_router();
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    Api { base, http: reqwest::Client::new(), a, b }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_api_is_tenant_scoped_and_documented() {
    let api = start().await;

    // Authentication: JSON 401 without, with a wrong, or with a non-Bearer credential.
    for (key, code) in [(None, "MISSING_API_KEY"), (Some("not-a-key"), "BAD_API_KEY")] {
        let (status, body) = api.get("/v1/orders", key).await;
        assert_eq!((status, body["error"].as_str()), (401, Some(code)), "{body}");
        assert!(body["reason"].as_str().is_some_and(|r| !r.is_empty()), "{body}");
    }
    let res = api.http.get(format!("{}/v1/stock", api.base)).header("Authorization", format!("Basic {KEY_A}")).send().await.expect("request");
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(res.headers().get("www-authenticate").map(|v| v.to_str().unwrap()), Some("Bearer"));

    // Every path of the read API's OpenAPI fragment is served (401 without a key); the merged
    // document against the whole app's route table is checked in the souk crate's http_openapi.
    let fragment = souk_projections::api::fragment();
    assert_eq!(fragment.paths.len(), 33);
    for (path, ops) in fragment.paths.iter().filter(|(p, _)| !p.starts_with("/console")) {
        let concrete = path.replace('{', "x").replace('}', "");
        let (status, body) = api.get(&concrete, None).await;
        assert_eq!(status, 401, "{concrete} is routed: {body}");
        assert!(ops["get"]["responses"]["200"].is_object(), "{path}");
    }
    // The console's page and assets are public (the page asks for the key), with strict headers.
    for (path, media) in [("/console", "text/html"), ("/console/console.js", "text/javascript"), ("/console/console.css", "text/css")] {
        let res = api.http.get(format!("{}{path}", api.base)).send().await.expect("console");
        assert_eq!(res.status().as_u16(), 200, "{path}");
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with(media), "{path}");
        assert_eq!(res.headers()["x-frame-options"], "DENY");
        assert!(res.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'self'"));
    }
    for bad in ["/v1/orders?limit=0", "/v1/messages?limit=501", "/v1/escalations?status=lost"] {
        let (status, body) = api.get(bad, Some(KEY_A)).await;
        assert_eq!(status, 400, "{bad} is refused: {body}");
    }

    // Pending approvals: each tenant sees only its own.
    let pending = api.ok("/v1/orders/pending-approval").await;
    assert_eq!(pending["orders"].as_array().expect("orders").len(), 1);
    assert_eq!((pending["orders"][0]["order_id"].as_str(), pending["orders"][0]["subtotal"].as_str()), (Some("ord-a1"), Some("1255.00")));
    let (_, pending_b) = api.get("/v1/orders/pending-approval", Some(KEY_B)).await;
    assert_eq!(pending_b["orders"][0]["order_id"], "ord-b1");

    // Order list with filters, and a malformed query.
    let all = api.ok("/v1/orders").await;
    let ids: Vec<&str> = all["orders"].as_array().expect("orders").iter().map(|o| o["order_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["ord-a1", "ord-a2"], "most recently changed first, tenant A only");
    let done = api.ok("/v1/orders?state=ORDER_COMPLETED&limit=10").await;
    assert_eq!(done["orders"].as_array().unwrap().len(), 1);
    assert_eq!(api.ok(&format!("/v1/orders?customer={CUSTOMER}&limit=1")).await["orders"].as_array().unwrap().len(), 1);
    let (status, body) = api.get("/v1/orders?limit=many", Some(KEY_A)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("BAD_QUERY")));

    // Order detail: order, lines, history and invoice; another tenant's order is a 404.
    let detail = api.ok("/v1/orders/ord-a2").await;
    assert_eq!(detail["order"]["state"], "ORDER_COMPLETED");
    assert_eq!(detail["lines"][0]["requested_meters"], "20.000");
    assert_eq!(detail["lines"][0]["price_per_meter"], "125.50");
    assert_eq!(detail["lines"][0]["allocations"][0]["batch_id"], "b1");
    assert_eq!(detail["history"].as_array().unwrap().iter().map(|h| h["kind"].as_str().unwrap()).collect::<Vec<_>>(), ["ORDER_UPDATED", "INVOICE_ISSUED"]);
    assert_eq!((detail["invoice"]["invoice_number"].as_str(), detail["invoice"]["total"].as_str()), (Some("INV-000001"), Some("2635.50")));
    assert!(api.ok("/v1/orders/ord-a1").await["invoice"].is_null());
    let (status, body) = api.get("/v1/orders/ord-b1", Some(KEY_A)).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("NOT_FOUND")), "tenant A cannot read tenant B's order");
    assert_eq!(api.get("/v1/orders/ord-b1", Some(KEY_B)).await.0, 200);
    assert_eq!(api.get("/v1/orders/ord-a2", Some(KEY_B)).await.0, 404);

    // Stock, ledger, invoice, escalations, messages, command outcomes.
    let stock = api.ok("/v1/stock").await;
    assert_eq!((stock["pools"][0]["available_meters"].as_str(), stock["batches"][0]["dye_lot"].as_str()), (Some("40.000"), Some("lot-7")));
    assert!(api.get("/v1/stock", Some(KEY_B)).await.1["pools"].as_array().unwrap().is_empty());
    let ledger = api.ok(&format!("/v1/ledger/{CUSTOMER}")).await;
    assert_eq!((ledger["balance"]["outstanding"].as_str(), ledger["balance"]["total_paid"].as_str()), (Some("1635.50"), Some("1000.00")));
    assert_eq!(ledger["entries"].as_array().unwrap().len(), 2);
    assert_eq!(ledger["payments"][0]["method"], "UPI");
    assert_eq!(api.get(&format!("/v1/ledger/{CUSTOMER}"), Some(KEY_B)).await.0, 404);
    let invoice = api.ok("/v1/invoices/INV-000001").await;
    assert_eq!((invoice["gst_rate"].as_str(), invoice["gst_amount"].as_str(), invoice["total"].as_str()), (Some("0.0500"), Some("125.50"), Some("2635.50")));
    assert_eq!(api.get("/v1/invoices/INV-000001", Some(KEY_B)).await.0, 404);
    assert_eq!(api.ok("/v1/escalations").await["escalations"].as_array().unwrap().len(), 2);
    let pending_esc = api.ok("/v1/escalations?status=pending").await;
    assert_eq!(pending_esc["escalations"].as_array().unwrap().iter().map(|e| e["escalation_id"].as_str().unwrap()).collect::<Vec<_>>(), ["esc-1"]);
    let log = api.ok(&format!("/v1/messages?customer={CUSTOMER}&order_id=ord-a1")).await;
    let view: Vec<(&str, &str)> = log["messages"].as_array().unwrap().iter().map(|m| (m["direction"].as_str().unwrap(), m["status"].as_str().unwrap())).collect();
    assert_eq!(view, [("in", "received"), ("out", "read")]);
    assert!(api.get("/v1/messages", Some(KEY_B)).await.1["messages"].as_array().unwrap().is_empty());
    let outcome = api.ok("/v1/commands/cmd-1").await;
    assert_eq!((outcome["accepted"].as_bool(), outcome["code"].as_str()), (Some(false), Some("INVALID_STATE")));
    assert_eq!(api.get("/v1/commands/cmd-1", Some(KEY_B)).await.0, 404);
    assert_eq!(api.get("/v1/commands/cmd-unknown", Some(KEY_A)).await.0, 404);
    assert_ne!(api.a, api.b);
}
