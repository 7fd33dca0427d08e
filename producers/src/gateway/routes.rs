//! The gateway's URL map. Kept apart from the handlers so the whole HTTP surface reads in one place.

use super::{commands, whatsapp, GatewayState};
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;

/// Every gateway route, with the body limit of the state's config (over it ⇒ 413). The router has
/// its state applied, so the CLI can `merge` it with the read API's router.
pub fn router(state: GatewayState) -> Router {
    let limit = state.config.body_limit_bytes;
    Router::new()
        .route("/webhooks/whatsapp", get(whatsapp::verify_subscription).post(whatsapp::receive))
        .route("/v1/orders/{order_id}/approve", post(commands::approve))
        .route("/v1/orders/{order_id}/reject", post(commands::reject))
        .route("/v1/payments", post(commands::payment))
        .route("/v1/catalog/{material}/{color}", put(commands::catalog))
        .route("/v1/stock", post(commands::stock))
        .route("/v1/settings", put(commands::settings))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
