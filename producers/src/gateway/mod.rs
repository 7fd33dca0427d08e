//! The HTTP gateway: where outside input becomes events (ARCHITECTURE.md, "Layout", `producers/`).
//!
//! - `POST /webhooks/whatsapp` (+ `GET` handshake): Meta's deliveries, signature-verified on the raw
//!   body (rules C1), one `InboundMessage`/`DeliveryStatus` per message/status, ids derived from
//!   Meta's so redeliveries dedup downstream; 200 only after every event is acknowledged.
//! - `POST /webhooks/instagram` (+ `GET` handshake): Instagram DMs for the social inbox, sealed
//!   under each customer's data key before they reach a topic (`social.rs`).
//! - `/v1/...`: owner commands (approve/reject, payments, catalog, stock, settings; partners,
//!   bundles, their checkout and deliveries, standing intents, ...) authenticated by the tenant's
//!   API key, answered 202 once the event is acknowledged.
//!
//! Nothing is produced for any refused request. Files: `routes.rs` (URL map), `whatsapp.rs` +
//! `payload.rs` + `signature.rs` (webhook), `commands.rs` + `validate.rs` (owner commands),
//! `orchestration.rs`, `checkout.rs`, `intents.rs`, `discovery.rs`, `escalations.rs` (system 2's
//! commands), `publisher.rs` (where events go), `directory.rs` (order → customer), `error.rs`,
//! `config.rs`.

mod audit;
mod checkout;
mod commands;
mod config;
mod connections;
mod csv;
mod directory;
mod discovery;
mod error;
mod escalations;
mod intents;
mod openapi;
mod openapi_products;
mod orchestration;
mod payload;
mod product_import;
mod products;
mod publisher;
mod routes;
mod rules;
mod signature;
mod social;
mod validate;
mod whatsapp;
mod whatsapp_inbox;

pub use audit::PublishedAudit;
pub use config::GatewayConfig;
pub use directory::{LogOrderDirectory, NoOrderDirectory, OrderDirectory};
pub use error::ApiError;
pub use openapi::fragment as openapi_fragment;
pub use publisher::{EventPublisher, GatewayEvent, KafkaPublisher, Publish, PublishError, GATEWAY_KIND};
pub use routes::{audited_surface, router, surface};
pub use signature::{sign, verify, AppSecrets};
pub use validate::{text, TEXT_PATTERN};
pub use whatsapp::{SIGNATURE_HEADER, TIMESTAMP_HEADER};

use souk_runtime::tenants::Tenants;
use std::sync::Arc;

/// The clock the gateway stamps requests with (epoch ms); replaceable so tests pin time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Everything the handlers share: tenants (routing and secrets), where events go, how orders map
/// to customers, limits and the clock. Cheap to clone (all `Arc`s).
#[derive(Clone)]
pub struct GatewayState {
    /// The tenant registry.
    pub tenants: Arc<Tenants>,
    /// Where accepted events go.
    pub publisher: Arc<dyn EventPublisher>,
    /// Order → customer lookups for owner decisions.
    pub orders: Arc<dyn OrderDirectory>,
    /// Limits.
    pub config: GatewayConfig,
    /// Wall clock (the edge is where source time comes from).
    pub clock: Clock,
    /// The tenants grouped by app secret (derived from `tenants` once, for webhook verification).
    pub app_secrets: Arc<AppSecrets>,
    /// The orchestration tables (partners, products, negotiations by partner number); without
    /// them the orchestration commands answer 503 and every WhatsApp message is a customer's.
    pub orchestration: Option<Arc<OrchestrationTables>>,
    /// The tenants grouped by the app secret of their Instagram connection.
    pub instagram_secrets: Arc<AppSecrets>,
    /// The customers' data keys (rules PR1); without them the social inbox's routes answer 503.
    pub privacy: Option<Arc<souk_runtime::privacy::KeyRing>>,
}

/// What the gateway reads from the log for multi-vendor orchestration (see [`crate::catalog`]).
pub struct OrchestrationTables {
    /// Partners and products, for bundle snapshots and product commands.
    pub catalog: crate::catalog::PartnerCatalog,
    /// Which negotiation waits on which partner number, to route their replies.
    pub routes: crate::catalog::NegotiationRoutes,
}

impl GatewayState {
    /// A state with the default limits and the system clock.
    pub fn new(tenants: Arc<Tenants>, publisher: Arc<dyn EventPublisher>, orders: Arc<dyn OrderDirectory>) -> GatewayState {
        let app_secrets = Arc::new(AppSecrets::of(&tenants));
        let instagram_secrets = Arc::new(AppSecrets::of_instagram(&tenants));
        GatewayState { tenants, publisher, orders, config: GatewayConfig::default(), clock: Arc::new(system_now_ms), app_secrets, orchestration: None, instagram_secrets, privacy: None }
    }

    /// The same state with other limits.
    pub fn with_config(self, config: GatewayConfig) -> GatewayState {
        GatewayState { config, ..self }
    }

    /// The same state with the orchestration tables.
    pub fn with_orchestration(self, tables: Arc<OrchestrationTables>) -> GatewayState {
        GatewayState { orchestration: Some(tables), ..self }
    }

    /// The same state with the customers' data keys (the social inbox).
    pub fn with_privacy(self, ring: Arc<souk_runtime::privacy::KeyRing>) -> GatewayState {
        GatewayState { privacy: Some(ring), ..self }
    }

    /// The same state with a fixed or simulated clock (tests).
    pub fn with_clock(self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> GatewayState {
        GatewayState { clock: Arc::new(clock), ..self }
    }
}

impl GatewayState {
    /// Publishes `records` (all acknowledged) within the configured deadline, else a 503.
    pub(crate) async fn publish(&self, records: Vec<Publish>) -> Result<(), ApiError> {
        let deadline = std::time::Duration::from_millis(self.config.publish_timeout_ms);
        match tokio::time::timeout(deadline, self.publisher.publish(records)).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(ApiError::unavailable(format!("the broker did not acknowledge within {} ms; retry", self.config.publish_timeout_ms))),
        }
    }
}

/// Now, in epoch milliseconds.
fn system_now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
