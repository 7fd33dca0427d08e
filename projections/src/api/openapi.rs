//! The read API's part of the OpenAPI 3.1 document, built with `serde_json` (no codegen
//! dependency). Kept next to the router; the CLI's test compares the merged document with the
//! routes the app really serves.

use crate::queries::MAX_LIMIT;
use serde_json::{json, Value};
use souk_runtime::openapi::{array_of, error_response as error, int, nullable, object, reference, string, time, Fragment};

/// The escalation statuses `GET /v1/escalations?status=` filters by (anything else is a 400).
pub const ESCALATION_STATUSES: [&str; 4] = ["pending", "assigned", "in_progress", "resolved"];

fn decimal() -> Value {
    json!({ "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$", "description": "exact decimal" })
}
fn decimal_or_null() -> Value {
    json!({ "oneOf": [decimal(), { "type": "null" }] })
}
fn json_value() -> Value {
    json!({ "description": "JSON (decimals as strings)" })
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
        ]),
        "Message": object(&[
            ("message_id", string()), ("direction", json!({ "enum": ["in", "out"] })), ("customer", string()),
            ("order_id", nullable("string")), ("kind", nullable("string")), ("text", nullable("string")), ("buttons", json_value()),
            ("status", json!({ "enum": ["received", "pending", "sent", "delivered", "read", "failed"] })),
            ("wamid", nullable("string")), ("error", json_value()), ("occurred_at", time()), ("updated_at", time()),
        ]),
        "CommandOutcome": object(&[
            ("command_id", string()), ("order_id", string()), ("command", string()), ("accepted", json!({ "type": "boolean" })),
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
    add(escalations, get("Escalations, oldest first", vec![param("status", "query", "pending, assigned, in_progress or resolved")], list("escalations", "Escalation"), false));
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
    f.schemas = schemas().as_object().cloned().unwrap_or_default();
    f.security_schemes.insert("bearer".into(), json!({ "type": "http", "scheme": "bearer", "description": "the tenant's owner API key" }));
    f
}
