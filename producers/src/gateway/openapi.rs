//! The gateway's part of the OpenAPI document: Meta's webhook and the owner commands, with their
//! request bodies as strict as the handlers (`deny_unknown_fields` ⇒ `additionalProperties:
//! false`; ids without `|` or control characters, at most 128 characters; decimals as strings).
//! Rules a schema cannot state (cross-field checks, decimal places, trimmed blanks) are in the
//! descriptions and answered 400 by the handlers.

use serde_json::{json, Value};
use souk_runtime::openapi::{error_response, Fragment};

/// A key-safe id or name: no `|` (the key separator), no control characters, 1–128 characters.
pub(super) fn ident(description: &str) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[^|\\u0000-\\u001f\\u007f-\\u009f]*$",
            "description": format!("{description}; trimmed, must not be blank") })
}

/// An optional id: absent, null or blank means none.
pub(super) fn opt_ident(description: &str) -> Value {
    json!({ "type": ["string", "null"], "maxLength": 128, "pattern": "^[^|\\u0000-\\u001f\\u007f-\\u009f]*$", "description": description })
}

/// An exact decimal: a string like `"500.00"` or a JSON number (never rounded).
pub(super) fn decimal(description: &str) -> Value {
    json!({ "anyOf": [{ "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$" }, { "type": "number" }], "description": description })
}

/// The white space `str::trim` removes (Unicode White_Space) as a pattern: tokens are trimmed.
const TRIMMED: &str = "[\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*";

/// A payment provider's token (`validate::payment_token`): `prefix` then ASCII letters, digits and
/// `_`, at most 255 characters once trimmed.
fn token(prefix: &str, description: &str) -> Value {
    json!({ "type": "string", "pattern": format!("^{TRIMMED}{prefix}[A-Za-z0-9_]{{1,{}}}{TRIMMED}$", 255 - prefix.len()),
            "description": format!("{description}: {prefix}... of ASCII letters, digits and _, at most 255 characters") })
}

pub(super) fn command_id() -> Value {
    opt_ident("client-chosen id; a retry with the same id is the same event (default: derived or random)")
}

/// A strict JSON object: these properties, `required` among them, nothing else.
pub(super) fn body(props: &[(&str, Value)], required: &[&str]) -> Value {
    let properties: serde_json::Map<String, Value> = props.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": false })
}

pub(super) fn path_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description,
            // At least one character that is not blank: the handler trims ids.
            "schema": { "type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[^|\\u0000-\\u001f\\u007f-\\u009f]*[^|\\s\\u0000-\\u001f\\u007f-\\u009f][^|\\u0000-\\u001f\\u007f-\\u009f]*$" } })
}

/// An owner command: Bearer API key, a JSON body, 202 once the event is acknowledged.
pub(super) fn command(summary: &str, params: Vec<Value>, schema: Value, body_required: bool, may_miss: bool) -> Value {
    let mut responses = json!({
        "202": { "description": "accepted: the event is on its topic; poll GET /v1/commands/{command_id} for the outcome",
                 "content": { "application/json": { "schema": {
                     "type": "object", "required": ["command_id", "status"],
                     "properties": { "command_id": { "type": "string" }, "status": { "const": "accepted" } } } } } },
        "400": error_response("malformed body or invalid field (the reason names it)"),
        "401": error_response("missing or unknown API key"),
        "413": error_response("body over the gateway's limit"),
        "503": error_response("the broker is unavailable; retry with the same command_id"),
    });
    if may_miss {
        responses["404"] = error_response("no such order for this tenant");
    }
    json!({
        "summary": summary,
        "parameters": params,
        "requestBody": { "required": body_required, "content": { "application/json": { "schema": schema } } },
        "responses": responses,
        "security": [{ "bearer": [] }],
    })
}

fn decision(verb: &str) -> Value {
    let schema = body(&[("reason", json!({ "type": ["string", "null"], "pattern": "^[^\\u0000]*$" })), ("actor", opt_ident("who decided")), ("command_id", command_id())], &[]);
    command(&format!("The owner {verb}s an order waiting for approval (body optional)"), vec![path_param("order_id", "the order")], schema, false, true)
}

fn webhook_post() -> Value {
    json!({
        "summary": "Meta's WhatsApp Cloud API webhook delivery (messages and statuses)",
        "description": "Authenticated by X-Hub-Signature-256 (HMAC-SHA256 of the raw body under the tenant's app secret) before it is parsed; answered 200 once every event it carries is acknowledged by the broker.",
        "parameters": [
            { "name": "X-Hub-Signature-256", "in": "header", "required": true, "schema": { "type": "string" }, "description": "sha256=<hex HMAC>" },
            { "name": "X-Hub-Timestamp", "in": "header", "required": false, "schema": { "type": "string" }, "description": "epoch seconds, within 300 s of now" },
        ],
        "requestBody": { "required": true, "content": { "application/json": { "schema": {
            "type": "object", "required": ["entry"],
            "properties": { "object": { "type": "string" }, "entry": { "type": "array", "items": { "type": "object" } } } } } } },
        "responses": {
            "200": { "description": "every event acknowledged", "content": { "application/json": { "schema": {
                "type": "object", "required": ["status", "events"], "properties": { "status": { "const": "ok" }, "events": { "type": "integer" } } } } } },
            "400": error_response("malformed delivery (the reason names the JSON path)"),
            "401": error_response("missing or wrong signature, or a stale timestamp"),
            "404": error_response("no tenant owns the delivery's phone_number_id"),
            "413": error_response("body over 256 KiB"),
            "503": error_response("the broker is unavailable; Meta redelivers"),
        },
        "security": [],
    })
}

fn instagram_post() -> Value {
    let mut op = webhook_post();
    op["summary"] = json!("Meta's Instagram messaging webhook delivery (entry[].messaging[]: messages, reads, deliveries)");
    op["description"] = json!("Authenticated by X-Hub-Signature-256 under the Instagram connection's app secret before it is parsed (401 \"Missing signature header\" / \"Invalid signature\"; a stale X-Hub-Timestamp: \"Webhook timestamp too old\"); entry[].id names the tenant's page; every messaging item is one event, its personal fields sealed under the customer's key; answered 200 once every event is acknowledged.");
    op["responses"]["200"] = json!({ "description": "every event acknowledged", "content": { "application/json": { "schema": {
        "type": "object", "required": ["status", "events"], "properties": { "status": { "const": "processed" }, "events": { "type": "integer" } } } } } });
    op["responses"]["404"] = error_response("no tenant has an Instagram connection for the delivery's page");
    op
}

/// The owner's answers in the social inbox (rules IB3).
fn social_commands(f: &mut Fragment) {
    let conversation = || path_param("conversation_id", "the conversation (`<platform>-<subject>`)");
    let params = || vec![conversation(), path_param("reply_id", "the reply")];
    let message = json!({ "type": "string", "minLength": 1, "maxLength": 5000, "description": "1–5,000 characters; <script> removed, tags other than b i u em strong code pre stripped" });
    let decide = body(&[("actor", opt_ident("who decides (default owner)")), ("command_id", command_id())], &[]);
    let with_text = body(&[("text", message), ("actor", opt_ident("who writes (default owner)")), ("command_id", command_id())], &["text"]);
    let answered = |mut op: Value| {
        op["responses"]["202"]["content"]["application/json"]["schema"]["properties"]["reply_id"] = json!({ "type": "string" });
        op["responses"]["404"] = error_response("not a conversation id, or no customer of it is known");
        op
    };
    f.operation(
        "/v1/conversations/{conversation_id}/replies/{reply_id}/approve",
        "post",
        answered(command("Send an escalated draft as it is (body optional)", params(), decide.clone(), false, false)),
    );
    f.operation(
        "/v1/conversations/{conversation_id}/replies/{reply_id}/reject",
        "post",
        answered(command("Reject an escalated draft: nothing is sent (body optional)", params(), decide, false, false)),
    );
    f.operation("/v1/conversations/{conversation_id}/replies/{reply_id}/edit", "post", answered(command("Send this text instead of an escalated draft", params(), with_text.clone(), true, false)));
    f.operation("/v1/conversations/{conversation_id}/replies", "post", answered(command("Write a reply to the customer of a conversation", vec![conversation()], with_text, true, false)));
    let erase = body(
        &[("reason", json!({ "type": "string", "minLength": 1, "maxLength": 4096, "pattern": super::TEXT_PATTERN })), ("actor", opt_ident("who erases (default owner)")), ("command_id", command_id())],
        &["reason"],
    );
    let mut op =
        command("Erase a conversation's customer (GDPR): their keys are tombstoned, their rows deleted; nothing of theirs opens again, live or in a replay", vec![conversation()], erase, true, false);
    op["responses"]["202"]["content"]["application/json"]["schema"]["properties"]["keys_shredded"] = json!({ "type": "integer" });
    op["responses"]["404"] = error_response("not a conversation id");
    f.operation("/v1/conversations/{conversation_id}/erase", "post", op);
    let read = body(&[("actor", opt_ident("who read it (default owner)")), ("command_id", command_id())], &[]);
    f.operation(
        "/v1/notifications/{notification_id}/read",
        "post",
        command("Mark a notification read (body optional; once per notification)", vec![path_param("notification_id", "the notification")], read, false, false),
    );
}

fn webhook_get() -> Value {
    let q = |name: &str| json!({ "name": name, "in": "query", "required": false, "schema": { "type": "string", "pattern": "^[^\\u0000]*$" } });
    json!({
        "summary": "Meta's webhook subscription handshake",
        "parameters": [q("hub.mode"), q("hub.verify_token"), q("hub.challenge")],
        "responses": {
            "200": { "description": "hub.challenge echoed", "content": { "text/plain": { "schema": { "type": "string" } } } },
            "403": error_response("not subscribe, or an unknown verify token"),
        },
        "security": [],
    })
}

/// The webhook and owner-command operations.
pub fn fragment() -> Fragment {
    let mut f = Fragment::default();
    f.operation("/webhooks/whatsapp", "get", webhook_get());
    f.operation("/webhooks/whatsapp", "post", webhook_post());
    f.operation("/webhooks/instagram", "get", webhook_get());
    f.operation("/webhooks/instagram", "post", instagram_post());
    social_commands(&mut f);
    super::openapi_products::product_commands(&mut f);
    super::rules::openapi(&mut f);
    super::connections::openapi(&mut f);
    f.operation("/v1/orders/{order_id}/approve", "post", decision("approve"));
    f.operation("/v1/orders/{order_id}/reject", "post", decision("reject"));
    let payment = body(
        &[
            ("payment_id", ident("the payment's id (a retried POST with the same id is one payment)")),
            ("customer", ident("customer wa_id")),
            ("amount", decimal("greater than 0, at most 2 decimal places")),
            ("method", opt_ident("upi, cash, ...")),
            ("reference", opt_ident("bank or UPI reference")),
            ("command_id", command_id()),
        ],
        &["payment_id", "customer", "amount"],
    );
    f.operation("/v1/payments", "post", command("Record a customer's payment", vec![], payment, true, false));
    let catalog = body(
        &[
            ("price_per_meter", decimal("greater than 0, at most 2 decimal places")),
            ("aliases", json!({ "type": "array", "items": ident("another name customers use (lowercased)") })),
            ("command_id", command_id()),
        ],
        &["price_per_meter"],
    );
    let catalog_params = vec![path_param("material", "lowercased"), path_param("color", "lowercased")];
    f.operation("/v1/catalog/{material}/{color}", "put", command("Create or update a catalog item", catalog_params, catalog, true, false));
    let stock = body(
        &[
            ("batch_id", ident("the batch")),
            ("material", ident("lowercased")),
            ("color", ident("lowercased")),
            ("dye_lot", opt_ident("dye lot")),
            ("rolls", json!({ "type": "integer", "minimum": 0, "maximum": i32::MAX, "description": "a batch needs rolls or loose meters" })),
            ("meters_per_roll", decimal("greater than 0, at most 3 decimal places")),
            ("loose_meters", decimal("0 or more, at most 3 decimal places")),
            ("price_per_meter", json!({ "anyOf": [decimal("greater than 0, at most 2 decimal places"), { "type": "null" }] })),
            ("received_at", json!({ "type": ["string", "null"], "format": "date-time", "description": "RFC 3339; default now" })),
            ("command_id", command_id()),
        ],
        &["batch_id", "material", "color", "rolls", "meters_per_roll", "loose_meters"],
    );
    f.operation("/v1/stock", "post", command("Receive a batch of stock", vec![], stock, true, false));
    let settings = body(
        &[("gst_rate", decimal("in [0, 1), at most 4 decimal places (0.05 is 5 %)")), ("reminder_days", json!({ "type": "integer", "minimum": 1, "maximum": 365 })), ("command_id", command_id())],
        &["gst_rate", "reminder_days"],
    );
    f.operation("/v1/settings", "put", command("Change the tenant's GST rate and reminder cadence", vec![], settings, true, false));
    orchestration(&mut f);
    checkout(&mut f);
    standing_intents(&mut f);
    ranking(&mut f);
    escalation_commands(&mut f);
    f.security_schemes.insert("bearer".into(), json!({ "type": "http", "scheme": "bearer", "description": "the tenant's owner API key" }));
    f
}

/// An orchestration command: like [`command`], with the ids its 202 answers and the 404/503 of a
/// catalog lookup.
fn orchestration_command(summary: &str, params: Vec<Value>, schema: Value, answer: &[(&str, Value)], missing: Option<&str>) -> Value {
    let mut op = command(summary, params, schema, true, false);
    let mut props = serde_json::Map::new();
    let mut required = vec![json!("status")];
    for (name, v) in answer {
        props.insert(name.to_string(), v.clone());
        required.push(json!(name));
    }
    props.insert("status".into(), json!({ "const": "accepted" }));
    op["responses"]["202"] =
        json!({ "description": "accepted: the event is on its topic", "content": { "application/json": { "schema": { "type": "object", "required": required, "properties": props } } } });
    if let Some(missing) = missing {
        op["responses"]["404"] = error_response(missing);
    }
    op["responses"]["503"] = error_response("the broker or the catalog tables are unavailable; retry with the same command_id");
    op
}

fn point(description: &str) -> Value {
    json!({ "type": "object", "description": description, "additionalProperties": false, "required": ["lat", "lng"],
            "properties": { "lat": { "type": "number", "minimum": -90, "maximum": 90 }, "lng": { "type": "number", "minimum": -180, "maximum": 180 } } })
}

fn tags(description: &str) -> Value {
    json!({ "type": "array", "items": ident("a tag (lowercased)"), "description": description })
}

/// Partners, products, bundles and the bundle chat (docs/rules/orchestration.md).
fn orchestration(f: &mut Fragment) {
    let s = |d: &str| json!({ "type": "string", "minLength": 1, "maxLength": 4096, "pattern": super::TEXT_PATTERN, "description": d });
    let time = |d: &str| json!({ "type": "string", "format": "date-time", "description": format!("{d} (RFC 3339)") });
    let id = json!({ "type": "string" });
    let partner = body(
        &[
            ("name", s("the partner's name")),
            ("business_type", json!({ "type": "string", "description": "florist, limo, restaurant, ..." })),
            ("location", point("where the partner prepares orders")),
            ("capabilities", tags("what the partner can do (re-sourcing requires the leg's)")),
            ("channel", json!({ "const": "whatsapp" })),
            ("channel_id", json!({ "type": "string", "pattern": "^\\+?[0-9]{5,20}$", "description": "the partner's WhatsApp number (a leading + is dropped)" })),
            ("opted_in", json!({ "type": "boolean", "description": "agreed to receive WhatsApp messages; without it nothing is sent" })),
            (
                "business_hours",
                json!({ "type": ["object", "null"], "additionalProperties": false, "required": ["open", "close", "days"],
                "properties": { "open": { "type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$" }, "close": { "type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$" },
                                "days": { "type": "array", "items": { "type": "integer", "minimum": 1, "maximum": 7 } } }, "description": "default 09:00-17:00 Monday to Friday" }),
            ),
            ("lock_type", json!({ "enum": ["none", "soft", "hard"], "description": "hard: never swapped by re-sourcing" })),
            ("preparation_minutes", json!({ "type": "integer", "minimum": 0, "maximum": 1440 })),
            (
                "verification",
                json!({ "type": "object", "additionalProperties": false,
                "properties": { "licence": { "type": "boolean" }, "insurance": { "type": "boolean" }, "tax_id": { "type": "boolean" } }, "description": "verified documents (trust +20/+15/+10)" }),
            ),
            ("positive_reviews", json!({ "type": "integer", "minimum": 0, "maximum": super::orchestration::MAX_REVIEWS, "description": "trust +5 each" })),
            ("on_time_percent", json!({ "type": ["integer", "null"], "minimum": 0, "maximum": 100, "description": "trust +1 per point" })),
            ("active", json!({ "type": "boolean", "description": "false removes the partner (default true)" })),
            ("payout_account", json!({ "anyOf": [token("acct_", "the partner's payout account at the payment provider (Stripe Connect); a checkout needs one per leg"), { "type": "null" }] })),
            ("command_id", command_id()),
        ],
        &["name", "location", "channel_id", "opted_in"],
    );
    let trust = [("command_id", id.clone()), ("partner_id", id.clone()), ("trust_score", json!({ "type": "integer", "minimum": 0, "maximum": 100 })), ("white_glove", json!({ "type": "boolean" }))];
    f.operation(
        "/v1/partners/{partner_id}",
        "put",
        orchestration_command("Declare or replace a partner; answers its trust score (rules T1)", vec![path_param("partner_id", "the partner")], partner, &trust, None),
    );
    let product = body(
        &[
            ("partner_id", ident("the partner selling it (must be declared)")),
            ("name", s("the product's name; re-sourcing matches requested items by its words")),
            ("description", json!({ "type": "string" })),
            ("price", decimal("0 or more, at most 2 decimal places")),
            ("currency", json!({ "type": "string", "pattern": "^[A-Za-z]{3}$" })),
            ("capabilities", tags("what the product needs of a replacement")),
            ("inventory_count", json!({ "type": "integer", "minimum": -1, "maximum": super::orchestration::MAX_INVENTORY, "description": "-1 unlimited, 0 out of stock; default 999" })),
            ("active", json!({ "type": "boolean" })),
            (
                "margin_percent",
                json!({ "type": ["string", "number", "null"], "pattern": "^[0-9]+(\\.[0-9]+)?$", "minimum": 0, "maximum": 100, "description": "the platform's commission, percent of the price (discovery's margin signal), at most 2 decimal places" }),
            ),
            ("command_id", command_id()),
        ],
        &["partner_id", "name", "price", "currency"],
    );
    let answer = [("command_id", id.clone()), ("product_id", id.clone())];
    f.operation(
        "/v1/products/{product_id}",
        "put",
        orchestration_command("Declare or replace a partner's product", vec![path_param("product_id", "the product")], product, &answer, Some("the partner is not declared")),
    );
    let leg = body(
        &[
            ("leg_id", opt_ident("default leg-<n>")),
            ("name", s("what the leg is for people ('Flowers')")),
            ("product_id", ident("the product ordered; its partner and price are snapshotted")),
            ("starts_at", time("when the leg executes")),
            ("deadline", time("when it must have arrived")),
            ("is_jit", json!({ "type": "boolean", "description": "just-in-time: the partner has 15 minutes to answer a change instead of 60" })),
            ("hard_locked", json!({ "type": "boolean", "description": "never re-sourced (also when the partner's lock_type is hard)" })),
            ("destination", point("where the leg is delivered")),
        ],
        &["name", "product_id", "starts_at", "deadline", "destination"],
    );
    let bundle = body(
        &[
            ("bundle_id", opt_ident("default derived from command_id")),
            ("user_id", ident("who orders")),
            ("starts_at", time("when the bundle starts (the time chain's origin)")),
            ("legs", json!({ "type": "array", "minItems": 1, "maxItems": 20, "items": leg })),
            ("command_id", command_id()),
        ],
        &["user_id", "starts_at", "legs"],
    );
    let answer = [("command_id", id.clone()), ("bundle_id", id.clone()), ("thread_id", id.clone())];
    f.operation("/v1/bundles", "post", orchestration_command("Order a bundle of legs from several partners", vec![], bundle, &answer, Some("a product or its partner is unknown or inactive")));
    let item = body(
        &[
            ("leg_id", ident("the leg whose delivery takes the item")),
            ("product_id", ident("the product to add; its partner's place and preparation time are snapshotted")),
            ("command_id", command_id()),
        ],
        &["leg_id", "product_id"],
    );
    let answer = [("command_id", id.clone()), ("bundle_id", id.clone())];
    f.operation(
        "/v1/bundles/{bundle_id}/items",
        "post",
        orchestration_command(
            "What adding an item to a leg does to its deadline (the conflict and, over 10 minutes late, the separate-delivery suggestion)",
            vec![path_param("bundle_id", "the bundle")],
            item,
            &answer,
            Some("the product or its partner is unknown or inactive"),
        ),
    );
    let chat = body(
        &[
            ("bundle_id", ident("the bundle")),
            ("user_id", ident("who writes")),
            ("text", s("the message, e.g. 'I want pink flowers instead of red' or 'Yes, proceed'")),
            ("message_id", opt_ident("a retry with the same id is the same message")),
        ],
        &["bundle_id", "user_id", "text"],
    );
    let answer = [("message_id", id.clone()), ("bundle_id", id)];
    f.operation("/v1/chat", "post", orchestration_command("A user's (or AI agent's) message in a bundle's thread", vec![], chat, &answer, None));
}

/// A bundle's checkout and its legs' deliveries (docs/rules/checkout.md).
fn checkout(f: &mut Fragment) {
    let id = json!({ "type": "string" });
    let percent = json!({ "anyOf": [{ "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$" }, { "type": "number", "minimum": 0, "maximum": 100 }],
                          "description": "the affiliate's share of the platform's commission, percent: 0 to 100, at most 2 decimal places" });
    let affiliate = json!({ "anyOf": [body(&[
        ("affiliate_id", ident("who referred the user")),
        ("payout_account", token("acct_", "the affiliate's payout account at the payment provider")),
        ("percent", percent),
    ], &["affiliate_id", "payout_account", "percent"]), { "type": "null" }], "description": "who referred the user, paid a share of the platform's commission" });
    let request = body(
        &[
            ("payment_method", token("pm_", "the user's payment method at the provider")),
            ("checkout_id", opt_ident("default derived from the tenant, the bundle and command_id")),
            ("affiliate", affiliate),
            ("command_id", command_id()),
        ],
        &["payment_method"],
    );
    let answer = [("command_id", id.clone()), ("checkout_id", id.clone()), ("bundle_id", id.clone())];
    let summary = "Check a bundle out: authorise the total, capture once every partner confirmed, hold each leg's share in escrow until delivery (rules CO1; the outcome is the checkout's snapshot)";
    f.operation("/v1/bundles/{bundle_id}/checkout", "post", orchestration_command(summary, vec![path_param("bundle_id", "the bundle")], request, &answer, None));
    let delivered = body(&[("confirmed_by", opt_ident("who confirms (default owner)")), ("command_id", command_id())], &[]);
    let answer = [("command_id", id.clone()), ("bundle_id", id.clone()), ("leg_id", id)];
    let params = vec![path_param("bundle_id", "the bundle"), path_param("leg_id", "the leg")];
    let mut op = orchestration_command("Confirm a leg's delivery: its escrow is released to the partner (rules CO6; body optional)", params, delivered, &answer, None);
    op["requestBody"]["required"] = json!(false);
    f.operation("/v1/bundles/{bundle_id}/legs/{leg_id}/delivered", "post", op);
}

/// Standing intents and observations (docs/rules/intents.md).
fn standing_intents(f: &mut Fragment) {
    let s = |d: &str| json!({ "type": "string", "minLength": 1, "maxLength": 4096, "pattern": super::TEXT_PATTERN, "description": d });
    let int = |min: i64, max: i64, d: &str| json!({ "type": "integer", "minimum": min, "maximum": max, "description": d });
    let id = json!({ "type": "string" });
    let nullable = |schema: Value| json!({ "anyOf": [schema, { "type": "null" }] });
    let price_below = body(&[("product_id", ident("the product")), ("amount", decimal("holds at or below this price, over 0, 2 decimal places"))], &["product_id", "amount"]);
    let conditions = json!({
        "type": "object", "additionalProperties": false, "minProperties": 1,
        "description": "ANDed (rules B5); at least one",
        "properties": {
            "weather": nullable(ident("the wanted weather of the target day, e.g. sunny (needs location)")),
            "location": nullable(ident("where the weather is wanted")),
            "day_of_week": nullable(json!({ "enum": ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] })),
            "time": nullable(json!({ "type": "string", "pattern": "^(morning|afternoon|evening|night|[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9])$" })),
            "in_stock": nullable(ident("a product that must be in stock")),
            "price_below": nullable(price_below),
        },
    });
    let leg = body(
        &[
            ("leg_id", opt_ident("default leg-<n>")),
            ("name", s("what the leg is for people ('Flowers')")),
            ("product_id", ident("the product ordered; its partner and price are snapshotted")),
            ("within_minutes", int(1, 10080, "how long after the intent fires the leg must have arrived; preparation and the ride must fit")),
            ("is_jit", json!({ "type": "boolean" })),
            ("hard_locked", json!({ "type": "boolean" })),
            ("destination", point("where the leg is delivered")),
        ],
        &["name", "product_id", "within_minutes", "destination"],
    );
    let intent = body(
        &[
            ("intent_id", opt_ident("default derived from command_id")),
            ("user_id", ident("whose intent")),
            ("description", s("what the user asked, e.g. 'Send flowers on the next sunny Thursday'")),
            ("conditions", conditions),
            ("legs", json!({ "type": "array", "minItems": 1, "maxItems": 20, "items": leg })),
            ("requires_approval", json!({ "type": "boolean", "description": "default true; low trust always asks" })),
            ("trust_level", json!({ "enum": ["high", "medium", "low"], "description": "default medium; on an unanswered approval high proceeds, others cancel" })),
            ("approval_timeout_hours", int(1, 720, "default 24")),
            ("max_wait_days", int(1, 365, "default 30; then it is cancelled")),
            ("check_frequency_minutes", int(1, 1440, "default 60")),
            ("utc_offset_minutes", int(-720, 840, "the user's time zone for day and time conditions; default 0")),
            ("payment_method", token("pm_", "what the intent checks out with when it fires (the provider's payment method)")),
            ("command_id", command_id()),
        ],
        &["user_id", "description", "conditions", "legs", "payment_method"],
    );
    let answer = [("command_id", id.clone()), ("intent_id", id.clone()), ("thread_id", id.clone())];
    let mut create = orchestration_command(
        "Create a standing intent (feasibility checked against the time chain; 400 INFEASIBLE otherwise)",
        vec![],
        intent,
        &answer,
        Some("a product or its partner is unknown or inactive"),
    );
    create["responses"]["400"] = error_response("malformed body, invalid field, or a leg that cannot arrive in time (INFEASIBLE)");
    f.operation("/v1/standing-intents", "post", create);
    let param = || vec![path_param("intent_id", "the standing intent")];
    let answer_body = body(&[("actor", opt_ident("who answers (default user)")), ("command_id", command_id())], &[]);
    f.operation("/v1/standing-intents/{intent_id}", "delete", command("Cancel a standing intent (body optional)", param(), answer_body.clone(), false, false));
    f.operation("/v1/standing-intents/{intent_id}/approve", "post", command("Approve an intent waiting for approval: it places its order (body optional)", param(), answer_body.clone(), false, false));
    f.operation("/v1/standing-intents/{intent_id}/reject", "post", command("Reject an intent waiting for approval: it is cancelled (body optional)", param(), answer_body, false, false));
    let observation = body(
        &[
            ("observation_id", opt_ident("a retry with the same id is the same observation")),
            ("kind", json!({ "enum": ["weather", "stock", "price"] })),
            ("location", nullable(ident("weather: where"))),
            ("date", nullable(json!({ "type": "string", "format": "date", "description": "weather: the day forecast, YYYY-MM-DD" }))),
            ("value", nullable(ident("weather: the forecast, e.g. sunny"))),
            ("product_id", nullable(ident("stock, price: the product"))),
            ("quantity", nullable(int(0, i64::MAX, "stock: units available"))),
            ("price", nullable(decimal("price: the current price, 2 decimal places"))),
            ("currency", nullable(json!({ "type": "string", "pattern": "^[A-Za-z]{3}$" }))),
            ("observed_at", json!({ "type": ["string", "null"], "format": "date-time", "description": "the source's time (RFC 3339); default now" })),
            ("source", opt_ident("the connector")),
        ],
        &["kind"],
    );
    let answer = [("observation_id", id)];
    f.operation("/v1/observations", "post", orchestration_command("Record an observation from a connector (a forecast, a stock level, a price)", vec![], observation, &answer, None));
}

/// Discovery's ranking weights and partner promotions (docs/rules/discovery.md).
fn ranking(f: &mut Fragment) {
    let w = |d: &str| json!({ "anyOf": [{ "type": "string", "pattern": "^(0(\\.[0-9]{1,2})?|1(\\.0{1,2})?)$" }, { "type": "number", "minimum": 0, "maximum": 1 }], "description": d });
    let weights = body(
        &[
            ("relevance", w("weight of text relevance (default 0.40)")),
            ("boost", w("weight of promotions (default 0.30)")),
            ("quality", w("weight of the partner's trust (default 0.20)")),
            ("margin", w("weight of the platform's margin (default 0.10)")),
            ("command_id", command_id()),
        ],
        &["relevance", "boost", "quality", "margin"],
    );
    let id = json!({ "type": "string" });
    let answer = [("command_id", id.clone()), ("relevance", id.clone()), ("boost", id.clone()), ("quality", id.clone()), ("margin", id.clone())];
    f.operation("/v1/ranking/config", "put", orchestration_command("Set how discovery weighs its signals; the four weights sum to 1 (rules D2)", vec![], weights, &answer, None));
    let time = |d: &str| json!({ "type": ["string", "null"], "format": "date-time", "description": format!("{d} (RFC 3339)") });
    let boost = body(
        &[
            ("promotion_type", json!({ "enum": super::discovery::PROMOTION_TYPES })),
            ("weight", decimal("multiplier of the type's boost, over 0 and at most 999.99, 2 decimal places (default 1)")),
            ("starts_at", time("when it starts (default: now)")),
            ("ends_at", time("when it ends (default: never)")),
            ("active", json!({ "type": "boolean", "description": "false withdraws it" })),
            ("command_id", command_id()),
        ],
        &["promotion_type"],
    );
    let answer = [("command_id", id.clone()), ("partner_id", id)];
    f.operation(
        "/v1/ranking/boosts/{partner_id}",
        "put",
        orchestration_command("Promote (or withdraw) a partner's products in discovery (rules D3)", vec![path_param("partner_id", "the partner")], boost, &answer, Some("the partner is not declared")),
    );
}

/// The escalation lifecycle's commands (rules B7).
fn escalation_commands(f: &mut Fragment) {
    let param = || vec![path_param("escalation_id", "the escalation (URL-encode its `/`)")];
    let text = |d: &str| json!({ "type": "string", "minLength": 1, "maxLength": 4096, "pattern": super::TEXT_PATTERN, "description": d });
    let assign = body(&[("assignee", ident("who takes it")), ("actor", opt_ident("who assigns (default the assignee)")), ("command_id", command_id())], &["assignee"]);
    f.operation("/v1/escalations/{escalation_id}/assign", "post", command("Assign an escalation (pending or assigned → assigned)", param(), assign, true, false));
    let start = body(&[("actor", opt_ident("who starts")), ("command_id", command_id())], &[]);
    f.operation("/v1/escalations/{escalation_id}/start", "post", command("Start work on an assigned escalation (→ in_progress; body optional)", param(), start, false, false));
    let resolve = body(&[("notes", text("what was done")), ("actor", opt_ident("who resolves")), ("command_id", command_id())], &["notes"]);
    f.operation("/v1/escalations/{escalation_id}/resolve", "post", command("Resolve an assigned or in-progress escalation with notes", param(), resolve, true, false));
    let intervene = body(&[("text", text("the message, sent as written")), ("actor", opt_ident("who writes")), ("command_id", command_id())], &["text"]);
    let mut op = command("Write to an escalated negotiation's partner as a human (sent even while the machine is paused)", param(), intervene, true, false);
    op["responses"]["404"] = error_response("the escalation is not about a negotiation of this tenant");
    op["responses"]["503"] = error_response("the broker or the negotiations directory is unavailable; retry with the same command_id");
    f.operation("/v1/escalations/{escalation_id}/intervene", "post", op);
}
