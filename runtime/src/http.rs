//! HTTP building blocks shared by every souk HTTP surface (gateway, read API, search API).
//!
//! [`Routes`] is the only way souk registers a route: it builds the axum [`Router`] and records
//! each `(method, path)` it added, so the served route table can be compared with the OpenAPI
//! document (a route added without documentation, or documented but not served, fails a test).
//! [`refuse_nul`] is the one guard against NUL characters anywhere in a request's path or query:
//! Postgres cannot store them, so they are refused at the edge with a 400.

use axum::extract::Request;
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter};
use axum::Router;
use std::fmt;
use std::sync::Arc;

/// One served route: an HTTP method on an OpenAPI-style path template (`/v1/orders/{order_id}`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    /// Upper-case method name (`GET`).
    pub method: String,
    /// Path template, as registered with axum (same `{param}` syntax as OpenAPI).
    pub path: String,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// A router that remembers what it serves. Build with [`Routes::get`]/[`Routes::post`]/
/// [`Routes::put`], finish with [`Routes::with_state`], combine with [`Routes::merge`].
pub struct Routes<S = ()> {
    router: Router<S>,
    table: Vec<Route>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Routes { router: Router::new(), table: Vec::new() }
    }
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn add<H, T>(mut self, method: Method, filter: MethodFilter, path: &str, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        self.router = self.router.route(path, on(filter, handler));
        self.table.push(Route { method: method.to_string(), path: path.to_string() });
        self
    }

    /// Serves `GET path`.
    pub fn get<H: Handler<T, S>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(Method::GET, MethodFilter::GET, path, handler)
    }

    /// Serves `POST path`.
    pub fn post<H: Handler<T, S>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(Method::POST, MethodFilter::POST, path, handler)
    }

    /// Serves `DELETE path`.
    pub fn delete<H: Handler<T, S>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(Method::DELETE, MethodFilter::DELETE, path, handler)
    }

    /// Serves `PATCH path`.
    pub fn patch<H: Handler<T, S>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(Method::PATCH, MethodFilter::PATCH, path, handler)
    }

    /// Serves `PUT path`.
    pub fn put<H: Handler<T, S>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(Method::PUT, MethodFilter::PUT, path, handler)
    }

    /// Applies `f` to the router (layers such as body limits); the table is unchanged.
    pub fn map_router(self, f: impl FnOnce(Router<S>) -> Router<S>) -> Self {
        Routes { router: f(self.router), table: self.table }
    }

    /// Provides the handlers' state; the result can be merged with other surfaces.
    pub fn with_state<S2: Clone + Send + Sync + 'static>(self, state: S) -> Routes<S2> {
        Routes { router: self.router.with_state(state), table: self.table }
    }

    /// Both route sets on one router (paths served by both get both method sets).
    pub fn merge(mut self, other: Routes<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self
    }

    /// Every `(method, path)` registered, in registration order.
    pub fn table(&self) -> &[Route] {
        &self.table
    }

    /// The axum router alone (to serve a single surface, e.g. in a test).
    pub fn into_router(self) -> Router<S> {
        self.router
    }

    /// The axum router and the table it serves.
    pub fn into_parts(self) -> (Router<S>, Vec<Route>) {
        (self.router, self.table)
    }
}

/// One component's share of the HTTP API: the routes it serves and their OpenAPI description.
///
/// Components hand `souk run` a surface instead of binding a port themselves, so whichever
/// components one process runs (the gateway, the read API, search, or any subset chosen with
/// `--only`) are served on one address, with one `/openapi.json` describing exactly those routes.
pub struct Surface {
    /// The routes, state already provided.
    pub routes: Routes,
    /// Their documentation.
    pub doc: crate::openapi::Fragment,
    /// Where the app's authentication attempts go (rules AU3), if this surface publishes them.
    pub audit: Option<Arc<crate::auth_audit::Auditor>>,
}

/// Middleware: a request whose path or query carries a NUL character (`%00`) is answered
/// `400 {"error": "INVALID_CHARACTER", "reason"}` before any handler runs. Text with NUL could not
/// be stored by the read side (Postgres refuses 0x00 in text) nor looked up in it.
pub async fn refuse_nul(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let carries_nul = |part: &str| part.as_bytes().windows(3).any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0');
    if carries_nul(uri.path()) || uri.query().is_some_and(carries_nul) {
        let reason = "the request's path or query contains a NUL character (%00), which souk cannot store or match";
        return crate::api_error::ApiError::bad_request("INVALID_CHARACTER", reason).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;
    use tower::ServiceExt;

    async fn status(router: Router, method: &str, uri: &str) -> StatusCode {
        let request = Request::builder().method(method).uri(uri).body(Body::empty()).expect("request");
        router.oneshot(request).await.expect("response").status()
    }

    #[tokio::test]
    async fn the_table_is_what_the_router_serves() {
        let routes: Routes = Routes::new().get("/a/{id}", || async { "a" }).post("/a/{id}", || async { "b" }).merge(Routes::new().put("/b", || async { "c" }));
        let table: Vec<String> = routes.table().iter().map(Route::to_string).collect();
        assert_eq!(table, ["GET /a/{id}", "POST /a/{id}", "PUT /b"]);
        let (router, _) = routes.into_parts();
        assert_eq!(status(router.clone(), "GET", "/a/1").await, StatusCode::OK);
        assert_eq!(status(router.clone(), "POST", "/a/1").await, StatusCode::OK);
        assert_eq!(status(router.clone(), "PUT", "/a/1").await, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(status(router, "PUT", "/b").await, StatusCode::OK);
    }

    #[tokio::test]
    async fn nul_in_path_or_query_is_a_400() {
        let router = || Router::new().route("/x/{v}", axum::routing::get(|| async { "ok" })).layer(axum::middleware::from_fn(refuse_nul));
        assert_eq!(status(router(), "GET", "/x/a?b=c").await, StatusCode::OK);
        assert_eq!(status(router(), "GET", "/x/a%00b").await, StatusCode::BAD_REQUEST);
        assert_eq!(status(router(), "GET", "/x/a?b=%00").await, StatusCode::BAD_REQUEST);
        assert_eq!(status(router(), "GET", "/x/a?b=%2500").await, StatusCode::OK, "an escaped percent sign is not a NUL");
    }
}
