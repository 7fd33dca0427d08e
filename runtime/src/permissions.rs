//! Staff roles as claims on per-tenant API keys (source 002 §a.1, docs/rules/inbox.md AU1). A
//! tenant's owner key has every permission; each `[[tenants.staff]]` key has its role's:
//!
//! | role | permissions |
//! |---|---|
//! | owner | `users:*`, `business:*`, `inventory:*`, `social:*`, `settings:*` |
//! | admin | `users:read`, `users:update`, `business:*`, `inventory:*`, `social:*`, `settings:read` |
//! | operator | `business:read`, `inventory:read`, `inventory:update`, `social:read`, `social:respond` |
//! | viewer | `business:read`, `inventory:read`, `social:read` |
//!
//! An exact permission passes, and so does `<resource>:*`. Each route needs one permission
//! ([`required`]); the [`authorize`] layer answers 403 "Insufficient permissions" before the
//! handler runs when the key's role lacks it. Unknown or missing keys are left to the handler
//! (401), routes with their own authentication (Meta's signed webhooks) need none.

use crate::api_error::ApiError;
use crate::tenants::Tenants;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

/// A staff member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The business owner (the tenant's own key).
    Owner,
    /// Runs the business with the owner; may not manage users beyond reading and updating them.
    Admin,
    /// Answers customers and keeps stock counts right.
    Operator,
    /// Reads.
    Viewer,
}

impl Role {
    /// The role's permissions (`resource:action`, or `resource:*`).
    pub fn permissions(self) -> &'static [&'static str] {
        match self {
            Role::Owner => &["users:*", "business:*", "inventory:*", "social:*", "settings:*"],
            Role::Admin => &["users:read", "users:update", "business:*", "inventory:*", "social:*", "settings:read"],
            Role::Operator => &["business:read", "inventory:read", "inventory:update", "social:read", "social:respond"],
            Role::Viewer => &["business:read", "inventory:read", "social:read"],
        }
    }

    /// Whether the role grants `permission` (an exact match, or its resource's `:*`).
    pub fn permits(self, permission: &str) -> bool {
        let resource = permission.split_once(':').map_or(permission, |(r, _)| r);
        self.permissions().iter().any(|p| *p == permission || p.strip_suffix(":*") == Some(resource))
    }
}

/// The permission a route needs (its method and matched path), or `None` for routes that
/// authenticate themselves or are public.
pub fn required(method: &Method, path: &str) -> Option<&'static str> {
    if path.starts_with("/webhooks/") || !path.starts_with("/v1/") || path.starts_with("/v1/simulator") || path == "/v1/clock/ticks" {
        return None;
    }
    let read = *method == Method::GET;
    let social = ["/v1/conversations", "/v1/replies", "/v1/notifications"].iter().any(|p| path.starts_with(p));
    let inventory = ["/v1/inventory", "/v1/stock", "/v1/catalog"].iter().any(|p| path.starts_with(p));
    Some(match () {
        _ if social && read => "social:read",
        _ if path.starts_with("/v1/notifications/") => "social:read",
        _ if path.ends_with("/erase") => "social:delete",
        _ if social => "social:respond",
        _ if inventory && read => "inventory:read",
        _ if path == "/v1/inventory/products" || path == "/v1/inventory/import" => "inventory:create",
        _ if inventory => "inventory:update",
        _ if path.starts_with("/v1/connections") => "settings:update",
        _ if path == "/v1/settings" && read => "settings:read",
        _ if path == "/v1/settings" => "settings:update",
        _ if read => "business:read",
        _ => "business:update",
    })
}

/// The route layer: 403 "Insufficient permissions" when the presented key's role lacks what the
/// route needs.
pub async fn authorize(State(tenants): State<Arc<Tenants>>, request: Request, next: Next) -> Response {
    let needed = request.extensions().get::<MatchedPath>().and_then(|p| required(request.method(), p.as_str()));
    if let Some(permission) = needed {
        let key = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().split_once(' ')).map(|(_, k)| k.trim());
        if let Some((tenant, staff, role)) = key.and_then(|k| tenants.principal(k)) {
            if !role.permits(permission) {
                tracing::warn!(tenant = %tenant.id, staff, ?role, permission, "refused: the key's role lacks the permission");
                return ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", "Insufficient permissions").into_response();
            }
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::owner_everything(Role::Owner, "users:delete", true)]
    #[case::admin_reads_users(Role::Admin, "users:read", true)]
    #[case::admin_no_user_delete(Role::Admin, "users:delete", false)]
    #[case::admin_settings_read_only(Role::Admin, "settings:update", false)]
    #[case::operator_responds(Role::Operator, "social:respond", true)]
    #[case::operator_no_erase(Role::Operator, "social:delete", false)]
    #[case::operator_counts_stock(Role::Operator, "inventory:update", true)]
    #[case::operator_no_new_products(Role::Operator, "inventory:create", false)]
    #[case::viewer_reads(Role::Viewer, "social:read", true)]
    #[case::viewer_no_reply(Role::Viewer, "social:respond", false)]
    #[case::no_prefix_match(Role::Viewer, "social:readx", false)]
    fn permissions_as_the_source_lists_them(#[case] role: Role, #[case] permission: &str, #[case] granted: bool) {
        assert_eq!(role.permits(permission), granted);
    }

    #[rstest]
    #[case(Method::POST, "/webhooks/instagram", None)]
    #[case(Method::GET, "/openapi.json", None)]
    #[case(Method::GET, "/v1/conversations", Some("social:read"))]
    #[case(Method::POST, "/v1/conversations/{conversation_id}/replies/{reply_id}/approve", Some("social:respond"))]
    #[case(Method::POST, "/v1/conversations/{conversation_id}/erase", Some("social:delete"))]
    #[case(Method::POST, "/v1/notifications/{notification_id}/read", Some("social:read"))]
    #[case(Method::POST, "/v1/inventory/stock/adjust", Some("inventory:update"))]
    #[case(Method::POST, "/v1/inventory/import", Some("inventory:create"))]
    #[case(Method::GET, "/v1/inventory/products", Some("inventory:read"))]
    #[case(Method::PUT, "/v1/settings", Some("settings:update"))]
    #[case(Method::POST, "/v1/orders/{order_id}/approve", Some("business:update"))]
    #[case(Method::GET, "/v1/orders", Some("business:read"))]
    fn each_route_needs_one_permission(#[case] method: Method, #[case] path: &str, #[case] permission: Option<&str>) {
        assert_eq!(required(&method, path), permission);
    }
}
