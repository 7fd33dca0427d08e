//! The product commands' part of the gateway's OpenAPI document (rules IV1–IV5), as strict as the
//! handlers in `products.rs` and `product_import.rs`.

use super::openapi::{body, command, command_id, decimal, opt_ident, path_param};
use super::products::{MAX_IMPORT_PRODUCTS, MAX_STOCK, MAX_VARIANTS};
use serde_json::{json, Value};
use souk_runtime::openapi::{error_response, Fragment};

fn text(description: &str) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": 4096, "pattern": super::TEXT_PATTERN, "description": description })
}

fn opt_text(description: &str) -> Value {
    json!({ "type": ["string", "null"], "maxLength": 4096, "pattern": "^[^\\u0000]*$", "description": description })
}

fn category() -> Value {
    json!({ "type": ["string", "null"], "maxLength": 64, "pattern": "^[A-Za-z0-9_-]*$", "description": "clothing, electronics, food, other or any label of ASCII letters, digits, '_' and '-' (default uncategorized)" })
}

fn status() -> Value {
    json!({ "type": ["string", "null"], "enum": ["active", "inactive", null], "description": "default active" })
}

fn product_id_param() -> Value {
    let mut p = path_param("product_id", "the product");
    p["schema"]["pattern"] = json!("^[^|:/\\u0000-\\u001f\\u007f-\\u009f]*[^|:/\\s\\u0000-\\u001f\\u007f-\\u009f][^|:/\\u0000-\\u001f\\u007f-\\u009f]*$");
    p
}

/// The variant id pattern: `<product_id>:<n>`.
fn variant_id() -> Value {
    json!({ "type": "string", "minLength": 3, "maxLength": 128, "pattern": "^[^|:/\\u0000-\\u001f\\u007f-\\u009f]+:[0-9]+$", "description": "<product_id>:<n>, as the product's creation answered" })
}

fn accepted_with(mut op: Value, fields: &[&str]) -> Value {
    for f in fields {
        op["responses"]["202"]["content"]["application/json"]["schema"]["properties"][*f] = json!({ "type": "string" });
    }
    op
}

/// The product operations.
pub(super) fn product_commands(f: &mut Fragment) {
    let stock = json!({ "type": ["integer", "null"], "minimum": 0, "maximum": MAX_STOCK, "description": "initial stock (default 0); later changes are adjustments" });
    let variant = body(
        &[
            ("name", json!({ "type": ["string", "null"], "minLength": 1, "maxLength": 4096, "pattern": super::TEXT_PATTERN, "description": "default Default" })),
            ("sku", opt_ident("default SKU-<variant id>")),
            ("price", json!({ "anyOf": [decimal("at most 2 decimals, not negative; default the base price"), { "type": "null" }] })),
            ("stock_quantity", stock),
            ("low_stock_threshold", json!({ "type": ["integer", "null"], "minimum": 0, "maximum": i32::MAX, "description": "default 10" })),
            (
                "attributes",
                json!({ "type": "object", "additionalProperties": text("a value, e.g. M"), "propertyNames": { "maxLength": 128, "pattern": "^[^|\\u0000-\\u001f\\u007f-\\u009f]*[^|\\s\\u0000-\\u001f\\u007f-\\u009f][^|\\u0000-\\u001f\\u007f-\\u009f]*$" }, "description": "e.g. {\"size\": \"M\", \"color\": \"Blue\"}" }),
            ),
            ("status", status()),
        ],
        &[],
    );
    let product = body(
        &[
            ("product_id", json!({ "type": ["string", "null"], "maxLength": 128, "pattern": "^[^|:/\\u0000-\\u001f\\u007f-\\u009f]*$", "description": "default derived from command_id" })),
            ("name", text("the product's name")),
            ("description", opt_text("default empty")),
            ("category", category()),
            ("base_price", decimal("at most 2 decimals, not negative")),
            ("status", status()),
            ("images", json!({ "type": "array", "items": text("an image URL") })),
            ("variants", json!({ "type": ["array", "null"], "items": variant, "minItems": 1, "maxItems": MAX_VARIANTS, "description": "default one variant Default with no stock" })),
            ("command_id", command_id()),
        ],
        &["name", "base_price"],
    );
    let op = command("Create a product with its variants (rules IV1)", vec![], product, true, false);
    let mut op = accepted_with(op, &["product_id"]);
    op["responses"]["202"]["content"]["application/json"]["schema"]["properties"]["variant_ids"] = json!({ "type": "array", "items": { "type": "string" } });
    f.operation("/v1/inventory/products", "post", op);
    let patch = body(
        &[
            ("name", json!({ "type": ["string", "null"], "minLength": 1, "maxLength": 4096, "pattern": super::TEXT_PATTERN })),
            ("description", opt_text("the new description")),
            ("category", category()),
            ("base_price", json!({ "anyOf": [decimal("at most 2 decimals, not negative"), { "type": "null" }] })),
            ("status", status()),
            ("command_id", command_id()),
        ],
        &[],
    );
    let op = command("Change a product's name, description, category, base price or status; an unknown product is refused in the outcome", vec![product_id_param()], patch, true, false);
    f.operation("/v1/inventory/products/{product_id}", "patch", accepted_with(op, &["product_id"]));
    let adjust = body(
        &[
            ("variant_id", variant_id()),
            ("adjustment", json!({ "type": "integer", "minimum": -MAX_STOCK, "maximum": MAX_STOCK, "not": { "const": 0 }, "description": "signed, not 0" })),
            ("reason", text("why (restock, sold, damaged, count)")),
            ("command_id", command_id()),
        ],
        &["variant_id", "adjustment", "reason"],
    );
    let op = command(
        "Adjust a variant's stock by a signed amount (rules IV2); the outcome has the previous and new stock, or NEGATIVE_STOCK / BELOW_RESERVED / UNKNOWN_VARIANT",
        vec![],
        adjust,
        true,
        false,
    );
    f.operation("/v1/inventory/stock/adjust", "post", accepted_with(op, &["product_id", "variant_id"]));
    let reserve = body(
        &[
            ("variant_id", variant_id()),
            ("quantity", json!({ "type": "integer", "minimum": 1, "maximum": MAX_STOCK })),
            ("ttl_seconds", json!({ "type": ["integer", "null"], "minimum": 1, "maximum": 604800, "description": "default 900" })),
            ("holder", opt_ident("who it is held for (a conversation id)")),
            ("command_id", command_id()),
        ],
        &["variant_id", "quantity"],
    );
    let op = command("Hold units of a variant of this product for a while (rules IV5); the outcome says held or rejected", vec![product_id_param()], reserve, true, false);
    f.operation("/v1/inventory/products/{product_id}/reservations", "post", accepted_with(op, &["reservation_id"]));
    let settle = body(&[("command_id", command_id())], &[]);
    for (verb, summary) in [("confirm", "Confirm a hold: its units leave stock (body optional)"), ("release", "Release a hold: its units are free again (body optional)")] {
        let params = vec![product_id_param(), path_param("reservation_id", "the hold")];
        f.operation(&format!("/v1/inventory/products/{{product_id}}/reservations/{{reservation_id}}/{verb}"), "post", command(summary, params, settle.clone(), false, false));
    }
    f.operation("/v1/inventory/import", "post", import());
}

fn import() -> Value {
    let row_error = json!({ "type": "object", "required": ["row", "error", "data"], "properties": {
        "row": { "type": "integer", "minimum": 2 }, "error": { "type": "string" }, "data": { "type": "object" } } });
    json!({
        "summary": "Import products from a CSV file (rules IV1)",
        "description": format!("Columns name, price, stock (required), description, category, sku, low_stock_threshold; one product with a Default variant per row; rows numbered from 2. At most 10 MB and {MAX_IMPORT_PRODUCTS} products. The same file imported again defines the same products."),
        "requestBody": { "required": true, "content": { "text/csv": { "schema": { "type": "string" } } } },
        "responses": {
            "200": { "description": "the rows imported and the rows refused", "content": { "application/json": { "schema": {
                "type": "object", "required": ["import_id", "imported", "failed", "errors", "product_ids"],
                "properties": { "import_id": { "type": "string" }, "imported": { "type": "integer" }, "failed": { "type": "integer" },
                                "errors": { "type": "array", "items": row_error }, "product_ids": { "type": "array", "items": { "type": "string" } } } } } } },
            "400": error_response("not UTF-8 CSV, or no header row"),
            "401": error_response("missing or unknown API key"),
            "413": error_response("over 10 MB or over the product limit"),
            "415": error_response("not text/csv"),
            "503": error_response("the broker is unavailable; upload the same file again"),
        },
        "security": [{ "bearer": [] }],
    })
}
