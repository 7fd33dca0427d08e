//! The gateway's URL map. Kept apart from the handlers so the whole HTTP surface reads in one place;
//! `openapi.rs` documents exactly these routes (a test compares the two).

use super::{checkout, commands, connections, discovery, escalations, intents, orchestration, products, rules, social, whatsapp, GatewayState};
use axum::extract::DefaultBodyLimit;
use souk_runtime::http::{Routes, Surface};
use std::sync::Arc;

/// Every gateway route, with the body limit of the state's config (over it ⇒ 413). The routes have
/// their state applied, so they can be merged with other components' routes.
pub fn router(state: GatewayState) -> Routes {
    let limit = state.config.body_limit_bytes;
    let tenants = state.tenants.clone();
    Routes::new()
        .get("/webhooks/whatsapp", whatsapp::verify_subscription)
        .post("/webhooks/whatsapp", whatsapp::receive)
        .get("/webhooks/instagram", whatsapp::verify_subscription)
        .post("/webhooks/instagram", social::receive_instagram)
        .post("/v1/conversations/{conversation_id}/replies", social::write)
        .post("/v1/conversations/{conversation_id}/replies/{reply_id}/approve", social::approve)
        .post("/v1/conversations/{conversation_id}/replies/{reply_id}/edit", social::edit)
        .post("/v1/conversations/{conversation_id}/replies/{reply_id}/reject", social::reject)
        .post("/v1/notifications/{notification_id}/read", social::read_notification)
        .post("/v1/conversations/{conversation_id}/erase", social::erase)
        .post("/v1/orders/{order_id}/approve", commands::approve)
        .post("/v1/orders/{order_id}/reject", commands::reject)
        .post("/v1/payments", commands::payment)
        .put("/v1/catalog/{material}/{color}", commands::catalog)
        .post("/v1/stock", commands::stock)
        .put("/v1/settings", commands::settings)
        .put("/v1/partners/{partner_id}", orchestration::partner)
        .put("/v1/products/{product_id}", orchestration::product)
        .post("/v1/bundles", orchestration::bundle)
        .post("/v1/bundles/{bundle_id}/items", orchestration::add_item)
        .post("/v1/bundles/{bundle_id}/checkout", checkout::checkout)
        .post("/v1/bundles/{bundle_id}/legs/{leg_id}/delivered", checkout::delivered)
        .post("/v1/chat", orchestration::chat)
        .post("/v1/standing-intents", intents::create)
        .delete("/v1/standing-intents/{intent_id}", intents::cancel)
        .post("/v1/standing-intents/{intent_id}/approve", intents::approve)
        .post("/v1/standing-intents/{intent_id}/reject", intents::reject)
        .post("/v1/observations", intents::observation)
        .put("/v1/ranking/config", discovery::weights)
        .put("/v1/ranking/boosts/{partner_id}", discovery::boost)
        .post("/v1/escalations/{escalation_id}/assign", escalations::assign)
        .post("/v1/escalations/{escalation_id}/start", escalations::start)
        .post("/v1/escalations/{escalation_id}/resolve", escalations::resolve)
        .post("/v1/escalations/{escalation_id}/intervene", escalations::intervene)
        .post("/v1/inventory/products", products::create)
        .patch("/v1/inventory/products/{product_id}", products::patch)
        .post("/v1/inventory/stock/adjust", products::adjust)
        .post("/v1/inventory/products/{product_id}/reservations", products::reserve)
        .post("/v1/inventory/products/{product_id}/reservations/{reservation_id}/confirm", products::confirm)
        .post("/v1/inventory/products/{product_id}/reservations/{reservation_id}/release", products::release)
        .put("/v1/connections/{platform}/{platform_user_id}", connections::authorize)
        .delete("/v1/connections/{platform}/{platform_user_id}", connections::disconnect)
        .post("/v1/assistant/messages", rules::teach)
        .post("/v1/rules/{rule_id}/confirm", rules::confirm)
        .patch("/v1/rules/{rule_id}", rules::change)
        .delete("/v1/rules/{rule_id}", rules::delete)
        .map_router(|r| r.layer(DefaultBodyLimit::max(limit)))
        // A product file is larger than any command (source §a.6: 10 MB).
        .merge(Routes::new().post("/v1/inventory/import", products::import).map_router(|r| r.layer(DefaultBodyLimit::max(products::MAX_IMPORT_BYTES))))
        // Rate limits per key (rules AU2): 429 with retry_after before a handler (after the role check).
        .map_router({
            let limits = (tenants.clone(), Arc::new(souk_runtime::rate_limit::RateLimiter::default()));
            move |r| r.route_layer(axum::middleware::from_fn_with_state(limits, souk_runtime::rate_limit::limit))
        })
        // Staff roles (rules AU1): 403 before a handler when the key's role lacks the route's permission.
        .map_router(|r| r.route_layer(axum::middleware::from_fn_with_state(tenants, souk_runtime::permissions::authorize)))
        .with_state(state)
}

/// The gateway's share of the HTTP API: its routes and their documentation.
pub fn surface(state: GatewayState) -> Surface {
    Surface { routes: router(state), doc: super::openapi::fragment(), audit: None }
}

/// [`surface`] that also publishes the whole app's authentication attempts (rules AU3) to the
/// gateway's `security` output.
pub fn audited_surface(state: GatewayState) -> Surface {
    let auditor = souk_runtime::auth_audit::Auditor::new(state.tenants.clone(), Arc::new(super::PublishedAudit::new(state.publisher.clone())));
    Surface { audit: Some(auditor), ..surface(state) }
}
