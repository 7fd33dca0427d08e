//! The read API's part of the OpenAPI 3.1 document, built with `serde_json` (no codegen
//! dependency). Kept next to the router; the CLI's test compares the merged document with the
//! routes the app really serves.

use crate::queries::MAX_LIMIT;
use serde_json::{json, Value};
use souk_runtime::openapi::{array_of, error_response as error, int, nullable, object, reference, string, time, Fragment};

/// The escalation statuses `GET /v1/escalations?status=` filters by (anything else is a 400).
pub const ESCALATION_STATUSES: [&str; 4] = ["pending", "assigned", "in_progress", "resolved"];

/// The escalation priorities `GET /v1/escalations?priority=` filters by (rules B7: a breach raises
/// medium to high and high to critical).
pub const ESCALATION_PRIORITIES: [&str; 3] = ["medium", "high", "critical"];

/// The negotiation statuses (rules N1) `GET /v1/negotiations?status=` filters by (anything else is a 400).
pub const NEGOTIATION_STATUSES: [&str; 10] = [
    "awaiting_partner_reply",
    "awaiting_user_approval",
    "resourcing",
    "awaiting_recovery_approval",
    "ordering_alternative",
    "accepted",
    "rejected",
    "rejected_by_user",
    "recovered_autonomously",
    "escalated",
];

fn decimal() -> Value {
    json!({ "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$", "description": "exact decimal" })
}
fn decimal_or_null() -> Value {
    json!({ "oneOf": [decimal(), { "type": "null" }] })
}
fn json_value() -> Value {
    json!({ "description": "JSON (decimals as strings)" })
}
fn boolean() -> Value {
    json!({ "type": "boolean" })
}
fn number() -> Value {
    json!({ "type": "number" })
}
fn strings() -> Value {
    json!({ "type": "array", "items": string() })
}
fn time_or_null() -> Value {
    json!({ "oneOf": [time(), { "type": "null" }] })
}

/// Partners, products, bundles and negotiations (migrations/0008_orchestration.sql).
fn orchestration_schemas() -> Value {
    json!({
        "Location": object(&[("lat", number()), ("lng", number())]),
        "Partner": object(&[
            ("partner_id", string()), ("name", string()), ("business_type", string()), ("location", reference("Location")),
            ("capabilities", strings()), ("channel_id", string()), ("opted_in", boolean()),
            ("lock_type", json!({ "enum": ["none", "soft", "hard"] })), ("preparation_minutes", int()),
            ("trust_score", json!({ "type": "integer", "minimum": 0, "maximum": 100, "description": "rules T1" })),
            ("white_glove", json!({ "type": "boolean", "description": "trust score of 70 or more" })), ("active", boolean()), ("updated_at", time()),
        ]),
        "Product": object(&[
            ("product_id", string()), ("partner_id", string()), ("name", string()), ("description", string()), ("price", decimal()),
            ("currency", string()), ("capabilities", strings()),
            ("inventory_count", json!({ "type": "integer", "minimum": -1, "description": "-1 unlimited, 0 out of stock" })),
            ("active", boolean()), ("updated_at", time()),
        ]),
        "PartnerDetail": object(&[("partner", reference("Partner")), ("products", array_of("Product"))]),
        "BundleLeg": object(&[
            ("leg_id", string()), ("name", string()), ("partner_id", string()), ("partner_name", string()), ("partner_contact", string()),
            ("partner_lat", number()), ("partner_lng", number()), ("preparation_minutes", int()), ("hard_locked", boolean()),
            ("product_id", string()), ("item", string()), ("price", decimal()), ("currency", string()), ("capabilities", strings()),
            ("is_jit", boolean()), ("starts_at", time()), ("deadline", time()), ("destination_lat", number()), ("destination_lng", number()),
            ("arrives_at", time_or_null()),
        ]),
        "Bundle": object(&[
            ("bundle_id", string()), ("user_id", string()), ("thread_id", string()), ("status", string()), ("starts_at", time()),
            ("total_minutes", int()), ("legs", array_of("BundleLeg")), ("updated_at", time()),
        ]),
        "Negotiation": object(&[
            ("negotiation_id", string()), ("bundle_id", string()), ("leg_id", string()), ("negotiation_type", string()),
            ("status", json!({ "enum": NEGOTIATION_STATUSES })), ("partner_id", string()), ("counter_offer_count", int()),
            ("unclear_replies", int()), ("paused", boolean()), ("proposal", nullable("string")), ("proposal_price", decimal_or_null()),
            ("reason", nullable("string")), ("updated_at", time()),
        ]),
        "ThreadMessage": object(&[
            ("event_id", string()), ("negotiation_id", json!({ "type": ["string", "null"], "description": "null for a note about the bundle" })),
            ("kind", string()), ("text", string()), ("at", time()),
        ]),
        "Recovery": object(&[
            ("negotiation_id", string()), ("leg_id", string()), ("old_partner_id", string()), ("new_partner_id", string()),
            ("product_id", string()), ("item", string()), ("price", decimal()), ("delay_minutes", int()), ("at", time()),
        ]),
        "Conflict": object(&[
            ("command_id", string()), ("leg_id", string()), ("leg_name", string()), ("item", string()), ("has_conflict", json!({ "type": "boolean" })),
            ("time_impact_minutes", int()), ("new_arrival", time()), ("deadline", time()), ("delay_minutes", int()),
            ("suggestion", nullable("string")), ("suggestion_message", nullable("string")), ("courier_cost", decimal_or_null()), ("at", time()),
        ]),
        "BundleDetail": object(&[
            ("bundle", reference("Bundle")), ("negotiations", array_of("Negotiation")), ("messages", array_of("ThreadMessage")),
            ("recoveries", array_of("Recovery")), ("conflicts", array_of("Conflict")),
            ("checkout", json!({ "oneOf": [reference("Checkout"), { "type": "null" }], "description": "the latest checkout; null until the bundle is checked out" })),
        ]),
        "CheckoutLeg": object(&[
            ("leg_id", string()), ("partner_id", string()), ("partner_name", string()), ("item", string()), ("amount", decimal()),
            ("partner_share", decimal()), ("platform_fee", decimal()),
            ("affiliate_commission", decimal()), ("status", string()), ("escrow_status", string()), ("release_trigger", nullable("string")),
            ("transfer_id", nullable("string")), ("refund_id", nullable("string")),
            ("payment_intent_id", json!({ "type": ["string", "null"], "description": "a replacement leg charged on its own" })),
            ("negotiation_id", json!({ "type": ["string", "null"], "description": "the reservation request to the partner" })),
        ]),
        "Checkout": object(&[
            ("checkout_id", string()), ("bundle_id", string()), ("user_id", string()), ("thread_id", string()), ("status", string()),
            ("payment_status", string()), ("escrow_status", string()), ("total", decimal()), ("captured", decimal()), ("refunded", decimal()),
            ("released", decimal()), ("currency", string()), ("payment_intent_id", nullable("string")), ("platform_fee", decimal()),
            ("affiliate_id", nullable("string")), ("affiliate_commission", decimal()), ("affiliate_status", string()), ("reason", nullable("string")),
            ("updated_at", time()), ("legs", array_of("CheckoutLeg")),
        ]),
        "PartnerReply": object(&[
            ("event_id", string()), ("partner_id", string()), ("text", nullable("string")), ("button_id", nullable("string")),
            ("classification", json!({ "enum": ["accept", "reject", "counter_offer", "frustrated", "unclear"] })),
            ("offered_item", nullable("string")), ("offered_price", decimal_or_null()), ("offered_change_percent", decimal_or_null()),
            ("classifier", string()), ("at", time()),
        ]),
        "NegotiationDetail": object(&[("negotiation", reference("Negotiation")), ("replies", array_of("PartnerReply"))]),
        "ConditionCheck": object(&[("kind", string()), ("value", string()), ("met", boolean()), ("observed", nullable("string"))]),
        "StandingIntent": object(&intent_fields()),
        "ProgressEntry": object(&[
            ("event_id", string()), ("step", int()), ("step_name", string()),
            ("log_type", json!({ "enum": crate::queries::LEDGER_LOG_TYPES })), ("status", string()), ("text", string()),
            ("reasoning", nullable("string")),
            ("context", json!({ "description": "the facts logged with a thought, activity or event (any JSON); null for a narrative" })),
            ("card", json!({ "type": ["object", "null"], "description": "the Progress Ledger card (Adaptive Card 1.5)" })),
            ("renderer", nullable("string")), ("if_text", nullable("string")), ("then_text", nullable("string")), ("at", time()),
        ]),
        "StandingIntentDetail": object(&{
            let mut fields = intent_fields();
            fields.push(("progress", array_of("ProgressEntry")));
            fields
        }),
        "IntentProgress": object(&[("intent_id", string()), ("entries", array_of("ProgressEntry"))]),
    })
}

/// The fields of a standing intent's snapshot (rules SI1).
fn intent_fields() -> Vec<(&'static str, Value)> {
    vec![
        ("intent_id", string()),
        ("user_id", string()),
        ("thread_id", string()),
        ("description", string()),
        ("status", json!({ "enum": super::INTENT_STATUSES })),
        ("trust_level", json!({ "enum": ["high", "medium", "low"] })),
        ("requires_approval", boolean()),
        ("if_text", string()),
        ("then_text", string()),
        ("checks", array_of("ConditionCheck")),
        ("checks_count", int()),
        ("last_checked_at", time()),
        ("expires_at", time()),
        ("approval_due_at", time_or_null()),
        ("bundle_id", nullable("string")),
        ("reason", nullable("string")),
        ("vendors_found", int()),
        ("created_at", time()),
        ("updated_at", time()),
    ]
}

fn schemas() -> Value {
    json!({
        "Order": object(&[
            ("order_id", string()), ("customer", string()), ("state", string()), ("previous_state", nullable("string")),
            ("opened_at", time()), ("subtotal", decimal_or_null()), ("negotiation_turns", int()), ("unknown_streak", int()),
            ("cause", string()), ("cause_wamid", nullable("string")), ("last_event_id", string()), ("updated_at", time()),
        ]),
        "OrderLine": object(&[
            ("line_id", string()), ("position", int()), ("material", string()), ("color", string()),
            ("requested_meters", decimal()), ("normalized_meters", decimal()), ("status", string()),
            ("replaced_by", nullable("string")), ("inventory_status", nullable("string")), ("available_meters", decimal_or_null()),
            ("price_per_meter", decimal_or_null()), ("hold_id", nullable("string")), ("hold_status", nullable("string")),
            ("allocations", json_value()), ("alternatives", json_value()),
        ]),
        "HistoryEntry": object(&[
            ("event_id", string()), ("kind", string()), ("state", nullable("string")), ("cause", nullable("string")),
            ("detail", json_value()), ("occurred_at", time()),
        ]),
        "PendingApproval": object(&[
            ("order_id", string()), ("customer", string()), ("subtotal", decimal_or_null()), ("active_lines", int()),
            ("waiting_since", time()), ("updated_at", time()),
        ]),
        "OrderDetail": object(&[
            ("order", reference("Order")), ("lines", array_of("OrderLine")), ("history", array_of("HistoryEntry")),
            ("invoice", json!({ "oneOf": [reference("Invoice"), { "type": "null" }] })),
        ]),
        "Invoice": object(&[
            ("invoice_id", string()), ("invoice_number", string()), ("order_id", string()), ("customer", string()),
            ("subtotal", decimal()), ("gst_rate", decimal()), ("gst_amount", decimal()), ("total", decimal()),
            ("lines", json_value()), ("reminder_days", int()), ("issued_at", time()),
        ]),
        "LedgerEntry": object(&[
            ("entry_id", string()), ("kind", string()), ("reference", string()), ("invoice_number", nullable("string")),
            ("amount", decimal()), ("total_invoiced", decimal()), ("total_paid", decimal()), ("outstanding_after", decimal()),
            ("occurred_at", time()),
        ]),
        "LedgerBalance": object(&[
            ("total_invoiced", decimal()), ("total_paid", decimal()), ("outstanding", decimal()),
            ("last_entry_id", string()), ("updated_at", time()),
        ]),
        "Payment": object(&[
            ("payment_id", string()), ("amount", decimal()), ("method", nullable("string")), ("reference", nullable("string")),
            ("recorded_at", time()),
        ]),
        "Ledger": object(&[
            ("customer", string()), ("balance", json!({ "oneOf": [reference("LedgerBalance"), { "type": "null" }] })),
            ("entries", array_of("LedgerEntry")), ("payments", array_of("Payment")),
        ]),
        "StockPool": json!({ "type": "object", "properties": {
            "material": string(), "color": string(), "on_hand_meters": decimal(), "held_meters": decimal(),
            "available_meters": decimal(), "updated_at": time() } }),
        "StockBatch": json!({ "type": "object", "properties": {
            "material": string(), "color": string(), "batch_id": string(), "dye_lot": nullable("string"), "rolls": int(),
            "meters_per_roll": decimal(), "loose_meters": decimal(), "held_meters": decimal(), "available_meters": decimal(),
            "price_per_meter": decimal_or_null(), "received_at": time() } }),
        "Stock": object(&[("pools", array_of("StockPool")), ("batches", array_of("StockBatch"))]),
        "Escalation": object(&[
            ("escalation_id", string()), ("customer", nullable("string")), ("order_id", nullable("string")), ("kind", string()),
            ("priority", string()), ("detail", string()), ("status", string()), ("raised_at", time()),
            ("assignee", nullable("string")), ("assign_due_at", json!({ "type": ["string", "null"], "format": "date-time" })), ("sla_breached", json!({ "type": "boolean" })),
            ("resolved_at", json!({ "type": ["string", "null"], "format": "date-time" })), ("notes", nullable("string")),
        ]),
        "Message": object(&[
            ("message_id", string()), ("direction", json!({ "enum": ["in", "out"] })), ("customer", string()),
            ("order_id", nullable("string")), ("kind", nullable("string")), ("text", nullable("string")), ("buttons", json_value()),
            ("status", json!({ "enum": ["received", "pending", "sent", "delivered", "read", "failed"] })),
            ("wamid", nullable("string")), ("error", json_value()), ("occurred_at", time()), ("updated_at", time()),
        ]),
        "CommandOutcome": object(&[
            ("command_id", string()), ("order_id", nullable("string")), ("escalation_id", nullable("string")), ("product_id", nullable("string")), ("rule_id", nullable("string")), ("command", string()), ("accepted", json!({ "type": "boolean" })),
            ("code", nullable("string")), ("detail", string()), ("occurred_at", time()),
        ]),
    })
}

fn param(name: &str, location: &str, description: &str) -> Value {
    let schema = match name {
        "limit" => json!({ "type": "integer", "minimum": 1, "maximum": MAX_LIMIT }),
        "status" => json!({ "type": "string", "enum": ESCALATION_STATUSES }),
        _ => json!({ "type": "string", "pattern": "^[^\\u0000]*$" }),
    };
    json!({ "name": name, "in": location, "required": location == "path", "description": description, "schema": schema })
}

/// `?status=` of `GET /v1/negotiations`.
fn negotiation_status_param() -> Value {
    let mut p = param("status", "query", "only negotiations in this status (rules N1)");
    p["schema"] = json!({ "type": "string", "enum": NEGOTIATION_STATUSES });
    p
}

/// A GET operation answering `schema`, with the shared 401 (and 404 when `may_miss`).
fn get(summary: &str, params: Vec<Value>, schema: Value, may_miss: bool) -> Value {
    let mut responses = json!({
        "200": { "description": "OK", "content": { "application/json": { "schema": schema } } },
        "401": error("missing or unknown API key"),
    });
    if may_miss {
        responses["404"] = error("not found for this tenant");
    }
    if params.iter().any(|p| p["in"] == "query") {
        responses["400"] = error("malformed query (the reason names the parameter)");
    }
    if params.iter().any(|p| p["in"] == "path") {
        responses["400"] = error("a NUL character in the path");
    }
    json!({ "summary": summary, "parameters": params, "responses": responses, "security": [{ "bearer": [] }] })
}

fn list(key: &str, item: &str) -> Value {
    object(&[(key, array_of(item))])
}

/// The read API's operations and schemas.
pub fn fragment() -> Fragment {
    let mut f = Fragment::default();
    let mut add = |path: &str, op: Value| f.operation(path, "get", op);
    let (pending, orders, order, stock, ledger) = ("/v1/orders/pending-approval", "/v1/orders", "/v1/orders/{order_id}", "/v1/stock", "/v1/ledger/{customer}");
    let (invoice, escalations, messages, command) = ("/v1/invoices/{invoice_number}", "/v1/escalations", "/v1/messages", "/v1/commands/{command_id}");
    add(pending, get("Orders waiting for the owner's approval (WAITING_OWNER_CONFIRMATION)", vec![], list("orders", "PendingApproval"), false));
    add(
        orders,
        get(
            "Orders, most recently changed first",
            vec![
                param("state", "query", "only orders in this workflow state"),
                param("customer", "query", "only this customer's orders (wa_id)"),
                param("limit", "query", "page size, default 50, at most 500"),
            ],
            list("orders", "Order"),
            false,
        ),
    );
    add(order, get("One order with its lines, history and invoice", vec![param("order_id", "path", "the order")], reference("OrderDetail"), true));
    add(stock, get("Stock pools and batches", vec![], reference("Stock"), false));
    add(ledger, get("A customer's balance, ledger entries and payments", vec![param("customer", "path", "customer wa_id")], reference("Ledger"), true));
    add(invoice, get("One invoice by number", vec![param("invoice_number", "path", "e.g. INV-000123")], reference("Invoice"), true));
    let kind = param("kind", "query", "only this kind (TIMEOUT, SENTIMENT, DEADLOCK, URGENCY, STALLED, ...)");
    let priority = json!({ "name": "priority", "in": "query", "required": false, "description": "only this priority", "schema": { "type": "string", "enum": ESCALATION_PRIORITIES } });
    add(
        escalations,
        get(
            "Escalations, highest priority first, then oldest (rules B7)",
            vec![param("status", "query", "pending, assigned, in_progress or resolved"), kind, priority],
            list("escalations", "Escalation"),
            false,
        ),
    );
    add(
        messages,
        get(
            "The WhatsApp message log, in conversation order",
            vec![
                param("customer", "query", "only this customer's messages (wa_id)"),
                param("order_id", "query", "only messages about this order"),
                param("limit", "query", "page size, default 50, at most 500"),
            ],
            list("messages", "Message"),
            false,
        ),
    );
    add(command, get("The outcome of an owner command (poll after the gateway's 202)", vec![param("command_id", "path", "the command")], reference("CommandOutcome"), true));
    orchestration(&mut add);
    f.schemas = schemas().as_object().cloned().unwrap_or_default();
    f.schemas.extend(orchestration_schemas().as_object().cloned().unwrap_or_default());
    super::social::document(&mut f, get, param);
    super::products::document(&mut f, get, param);
    super::rules::document(&mut f, get, param);
    crate::console::document(&mut f);
    f.security_schemes.insert("bearer".into(), json!({ "type": "http", "scheme": "bearer", "description": "the tenant's owner API key" }));
    f
}

/// System 2's read operations (their writes are the gateway's `PUT /v1/partners/{partner_id}`,
/// `PUT /v1/products/{product_id}`, `POST /v1/bundles` and `POST /v1/chat`).
fn orchestration(add: &mut impl FnMut(&str, Value)) {
    add("/v1/partners", get("Every partner with its trust score, by id", vec![], list("partners", "Partner"), false));
    add("/v1/partners/{partner_id}", get("One partner with its products", vec![param("partner_id", "path", "the partner")], reference("PartnerDetail"), true));
    add(
        "/v1/products",
        get(
            "Partner products, by id",
            vec![param("partner_id", "query", "only this partner's products"), param("capability", "query", "only products with this capability (case-insensitive)")],
            list("products", "Product"),
            false,
        ),
    );
    add(
        "/v1/bundles/{bundle_id}",
        get("One bundle with its timeline, negotiations, the user's thread (log order), recoveries and checkout", vec![param("bundle_id", "path", "the bundle")], reference("BundleDetail"), true),
    );
    let mut checkout = get(
        "A bundle's latest checkout: the payment, the escrow and each leg's split (404 NO_CHECKOUT until it is checked out)",
        vec![param("bundle_id", "path", "the bundle")],
        reference("Checkout"),
        true,
    );
    checkout["responses"]["404"] = error("NO_CHECKOUT: the bundle has no checkout (or the tenant no such bundle)");
    add("/v1/bundles/{bundle_id}/checkout", checkout);
    add(
        "/v1/negotiations",
        get(
            "Negotiations, most recently changed first",
            vec![param("bundle_id", "query", "only this bundle's negotiations"), negotiation_status_param(), param("limit", "query", "page size, default 50, at most 500")],
            list("negotiations", "Negotiation"),
            false,
        ),
    );
    add(
        "/v1/negotiations/{negotiation_id}",
        get("One negotiation with every partner reply as it was read", vec![param("negotiation_id", "path", "the negotiation")], reference("NegotiationDetail"), true),
    );
    let intent_status = json!({ "name": "status", "in": "query", "required": false, "description": "only in this status", "schema": { "type": "string", "enum": super::INTENT_STATUSES } });
    add(
        "/v1/standing-intents",
        get(
            "Standing intents, newest first",
            vec![param("user_id", "query", "only this user's"), intent_status, param("limit", "query", "page size, default 50, at most 500")],
            list("standing_intents", "StandingIntent"),
            false,
        ),
    );
    add(
        "/v1/standing-intents/{intent_id}",
        get("One standing intent with its conditions as last checked and its progress ledger", vec![param("intent_id", "path", "the standing intent")], reference("StandingIntentDetail"), true),
    );
    let log_type = json!({ "name": "log_type", "in": "query", "required": false, "description": "only this kind of entry", "schema": { "type": "string", "enum": crate::queries::LEDGER_LOG_TYPES } });
    add(
        "/v1/standing-intents/{intent_id}/progress",
        get(
            "A standing intent's progress ledger in order: thoughts, activities, events and the narratives its user read",
            vec![param("intent_id", "path", "the standing intent"), log_type],
            reference("IntentProgress"),
            true,
        ),
    );
}
