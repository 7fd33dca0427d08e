//! The owner console (`GET /console`): one server-rendered page with a little JavaScript, served
//! by the read API so `souk run` needs nothing else. It logs in with the tenant's API key (kept
//! in the tab's session storage) and uses the same read API and owner commands as any client:
//! the inbox (escalated first), drafts to approve, edit or reject, the replies with their
//! delivery status, the notification feed live from `GET /v1/notifications/stream`, products low
//! on stock, and a textile tenant's orders waiting for approval. Strict headers: everything from
//! this origin only, never framed.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use souk_runtime::openapi::Fragment;

const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("console.js");
const STYLE: &str = include_str!("console.css");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, "default-src 'self'; connect-src 'self'; frame-ancestors 'none'"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `GET /console`.
pub async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

/// `GET /console/console.js`.
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /console/console.css`.
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// The console's operations (public: the page asks for the key itself).
pub fn document(f: &mut Fragment) {
    for (path, summary, media) in [
        ("/console", "The owner console: inbox, drafts to review, replies, live notifications, low stock, orders to approve", "text/html"),
        ("/console/console.js", "The console's script", "text/javascript"),
        ("/console/console.css", "The console's style sheet", "text/css"),
    ] {
        f.operation(
            path,
            "get",
            json!({
                "summary": summary,
                "responses": { "200": { "description": summary, "content": { media: { "schema": { "type": "string" } } } } },
                "security": [],
            }),
        );
    }
}
