//! Where accepted input goes: [`EventPublisher`] takes a batch of events and returns once every one
//! is durable. [`KafkaPublisher`] is the real one (idempotent acks=all producer, Avro through the
//! registry, trace headers), also in the gateway tests.

use futures::future::BoxFuture;
use rdkafka::producer::FutureProducer;
use serde_json::{json, Value as Json};
use souk_runtime::codec::{Codec, CodecError};
use souk_runtime::kafka::{send_all, OutRecord};
use souk_runtime::topology::{Role, Topology};
use souk_schemas::billing::{PaymentRecorded, TenantSettingsChanged};
use souk_schemas::bundles::{BundleRequested, ChatMessageReceived, ItemAddRequested, PartnerUpserted, ProductUpserted};
use souk_schemas::discovery::{PartnerPromoted, RankingWeightsSet};
use souk_schemas::escalations::{EscalationAssigned, EscalationResolved, EscalationWorkStarted};
use souk_schemas::intents::{IntentCancelRequested, IntentDecided, ObservationRecorded, StandingIntentRequested};
use souk_schemas::inventory::{BatchReceived, CatalogItemUpserted};
use souk_schemas::orchestration::{HumanIntervened, PartnerReplied};
use souk_schemas::orders::OwnerDecision;
use souk_schemas::payments::{CheckoutRequested, LegDelivered};
use souk_schemas::privacy::{ErasureRequested, SubjectKeyIssued};
use souk_schemas::social::{CustomerMessageReceived, NotificationClosed, ReplyDecided, SocialStatusReceived};
use souk_schemas::whatsapp::{ConsentChanged, DeliveryStatus, InboundMessage};
use souk_schemas::Envelope;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Every event the gateway produces. The variant fixes the logical topic, so a handler cannot send
/// an event to the wrong topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayEvent {
    /// A customer message from the webhook → `whatsapp.inbound`.
    Inbound(InboundMessage),
    /// A delivery status from the webhook → `whatsapp.status`.
    Status(DeliveryStatus),
    /// Owner approve/reject → `orders.inputs`.
    OwnerDecision(OwnerDecision),
    /// A recorded payment → `ledger.inputs`.
    Payment(PaymentRecorded),
    /// A catalog price/aliases upsert → `inventory.commands`.
    CatalogItem(CatalogItemUpserted),
    /// Stock in → `inventory.commands`.
    Batch(BatchReceived),
    /// Tenant billing settings → `billing.commands`.
    Settings(TenantSettingsChanged),
    /// A partner declared → `partners`.
    Partner(PartnerUpserted),
    /// A partner's product declared → `partner.products`.
    Product(ProductUpserted),
    /// A bundle ordered → `negotiation.inputs`.
    Bundle(BundleRequested),
    /// A partner's WhatsApp reply to a negotiation → `negotiation.inputs`.
    PartnerReply(PartnerReplied),
    /// A user's message in a bundle's thread → `chat.inbound`.
    Chat(ChatMessageReceived),
    /// An escalation assigned → `escalation.inputs`.
    EscalationAssigned(EscalationAssigned),
    /// Work on an escalation started → `escalation.inputs`.
    EscalationStarted(EscalationWorkStarted),
    /// An escalation resolved → `escalation.inputs`.
    EscalationResolved(EscalationResolved),
    /// An admin writes to a negotiation's partner → `negotiation.inputs`.
    Intervened(HumanIntervened),
    /// An item to add to a leg → `negotiation.inputs`.
    ItemAdd(ItemAddRequested),
    /// Discovery's ranking weights → `discovery.ranking`.
    RankingWeights(RankingWeightsSet),
    /// A partner promotion → `discovery.ranking`.
    Promotion(PartnerPromoted),
    /// A person's WhatsApp consent → `whatsapp.consent`.
    Consent(ConsentChanged),
    /// A standing intent created → `intents.inputs`.
    StandingIntent(StandingIntentRequested),
    /// The user's answer to an intent's approval → `intents.inputs`.
    IntentDecided(IntentDecided),
    /// The user cancels an intent → `intents.inputs`.
    IntentCancel(IntentCancelRequested),
    /// A connector's observation → `observations`.
    Observation(ObservationRecorded),
    /// A bundle checked out (rules CO1) → `negotiation.inputs`.
    Checkout(CheckoutRequested),
    /// A leg's delivery confirmed, releasing its escrow (rules CO6) → `negotiation.inputs`.
    LegDelivered(LegDelivered),
    /// A customer's data key (rules PR1) → `privacy.keys`.
    SubjectKey(SubjectKeyIssued),
    /// A customer's Instagram/WhatsApp message to the inbox → `social.inputs`.
    CustomerMessage(CustomerMessageReceived),
    /// A delivery or read receipt of the inbox's replies → `social.inputs`.
    SocialStatus(SocialStatusReceived),
    /// A person's decision about a reply → `social.inputs`.
    ReplyDecided(ReplyDecided),
    /// The owner read a notification → `notifications.inputs`.
    NotificationRead(NotificationClosed),
    /// The tombstone of a customer's data key (rules PR2) → `privacy.keys`; the envelope only
    /// traces it (a tombstone has no value).
    KeyTombstone(Envelope),
    /// A customer erased, after their keys' tombstones (rules PR2) → `social.inputs`.
    Erasure(ErasureRequested),
    /// A product command (definition, patch, adjustment, hold) → `catalog` (`products.commands`).
    ProductCommand(souk_schemas::products::ProductCommand),
    /// A business-rule command (taught, confirmed, changed, deleted) → `rules` (`rules.commands`).
    RuleCommand(souk_schemas::rules::RuleCommand),
    /// An API key presented to the HTTP API (rules AU3) → `security` (`security.inputs`).
    AuthAttempt(souk_schemas::security::AuthAttempted),
    /// A channel connection command (rules CC1–CC3) → `connections` (`connections.commands`).
    ConnectionCommand(souk_schemas::connections::ConnectionCommand),
}

impl GatewayEvent {
    /// The logical output it is published to (a key of the gateway's `outputs` in topology.toml,
    /// which names the topic).
    pub fn output(&self) -> &'static str {
        match self {
            GatewayEvent::Inbound(_) => "inbound",
            GatewayEvent::Status(_) => "status",
            GatewayEvent::OwnerDecision(_) => "decisions",
            GatewayEvent::Payment(_) => "payments",
            GatewayEvent::CatalogItem(_) | GatewayEvent::Batch(_) => "inventory",
            GatewayEvent::Settings(_) => "billing",
            GatewayEvent::Partner(_) => "partners",
            GatewayEvent::Product(_) => "products",
            GatewayEvent::Bundle(_) | GatewayEvent::PartnerReply(_) => "negotiations",
            GatewayEvent::Chat(_) => "chat",
            GatewayEvent::EscalationAssigned(_) | GatewayEvent::EscalationStarted(_) | GatewayEvent::EscalationResolved(_) => "escalations",
            GatewayEvent::Intervened(_) | GatewayEvent::ItemAdd(_) | GatewayEvent::Checkout(_) | GatewayEvent::LegDelivered(_) => "negotiations",
            GatewayEvent::RankingWeights(_) | GatewayEvent::Promotion(_) => "ranking",
            GatewayEvent::Consent(_) => "consent",
            GatewayEvent::StandingIntent(_) | GatewayEvent::IntentDecided(_) | GatewayEvent::IntentCancel(_) => "intents",
            GatewayEvent::Observation(_) => "observations",
            GatewayEvent::SubjectKey(_) => "keys",
            GatewayEvent::CustomerMessage(_) | GatewayEvent::SocialStatus(_) | GatewayEvent::ReplyDecided(_) => "social",
            GatewayEvent::NotificationRead(_) => "notifications",
            GatewayEvent::KeyTombstone(_) => "keys",
            GatewayEvent::Erasure(_) => "social",
            GatewayEvent::ProductCommand(_) => "catalog",
            GatewayEvent::RuleCommand(_) => "rules",
            GatewayEvent::AuthAttempt(_) => "security",
            GatewayEvent::ConnectionCommand(_) => "connections",
        }
    }

    /// The Avro record's short name (the tag of the topic union's JSON form).
    pub fn record_name(&self) -> &'static str {
        match self {
            GatewayEvent::Inbound(_) => "InboundMessage",
            GatewayEvent::Status(_) => "DeliveryStatus",
            GatewayEvent::OwnerDecision(_) => "OwnerDecision",
            GatewayEvent::Payment(_) => "PaymentRecorded",
            GatewayEvent::CatalogItem(_) => "CatalogItemUpserted",
            GatewayEvent::Batch(_) => "BatchReceived",
            GatewayEvent::Settings(_) => "TenantSettingsChanged",
            GatewayEvent::Partner(_) => "PartnerUpserted",
            GatewayEvent::Product(_) => "ProductUpserted",
            GatewayEvent::Bundle(_) => "BundleRequested",
            GatewayEvent::PartnerReply(_) => "PartnerReplied",
            GatewayEvent::Chat(_) => "ChatMessageReceived",
            GatewayEvent::EscalationAssigned(_) => "EscalationAssigned",
            GatewayEvent::EscalationStarted(_) => "EscalationWorkStarted",
            GatewayEvent::EscalationResolved(_) => "EscalationResolved",
            GatewayEvent::Intervened(_) => "HumanIntervened",
            GatewayEvent::ItemAdd(_) => "ItemAddRequested",
            GatewayEvent::RankingWeights(_) => "RankingWeightsSet",
            GatewayEvent::Promotion(_) => "PartnerPromoted",
            GatewayEvent::Consent(_) => "ConsentChanged",
            GatewayEvent::StandingIntent(_) => "StandingIntentRequested",
            GatewayEvent::IntentDecided(_) => "IntentDecided",
            GatewayEvent::IntentCancel(_) => "IntentCancelRequested",
            GatewayEvent::Observation(_) => "ObservationRecorded",
            GatewayEvent::Checkout(_) => "CheckoutRequested",
            GatewayEvent::LegDelivered(_) => "LegDelivered",
            GatewayEvent::SubjectKey(_) => "SubjectKeyIssued",
            GatewayEvent::CustomerMessage(_) => "CustomerMessageReceived",
            GatewayEvent::SocialStatus(_) => "SocialStatusReceived",
            GatewayEvent::ReplyDecided(_) => "ReplyDecided",
            GatewayEvent::NotificationRead(_) => "NotificationClosed",
            GatewayEvent::KeyTombstone(_) => "(tombstone)",
            GatewayEvent::Erasure(_) => "ErasureRequested",
            GatewayEvent::ProductCommand(c) => {
                use souk_schemas::products::ProductCommand as C;
                match c {
                    C::ProductDefined(_) => "ProductDefined",
                    C::ProductPatched(_) => "ProductPatched",
                    C::StockAdjustRequested(_) => "StockAdjustRequested",
                    C::ReservationRequested(_) => "ReservationRequested",
                    C::ReservationSettled(_) => "ReservationSettled",
                    C::Tick(_) => "Tick",
                }
            }
            GatewayEvent::RuleCommand(c) => {
                use souk_schemas::rules::RuleCommand as C;
                match c {
                    C::RuleTaught(_) => "RuleTaught",
                    C::RuleConfirmed(_) => "RuleConfirmed",
                    C::RuleChanged(_) => "RuleChanged",
                    C::RuleDeleteRequested(_) => "RuleDeleteRequested",
                }
            }
            GatewayEvent::AuthAttempt(_) => "AuthAttempted",
            GatewayEvent::ConnectionCommand(c) => {
                use souk_schemas::connections::ConnectionCommand as C;
                match c {
                    C::ConnectionAuthorized(_) => "ConnectionAuthorized",
                    C::ConnectionDisconnected(_) => "ConnectionDisconnected",
                    C::Tick(_) => "Tick",
                }
            }
        }
    }

    /// The event's envelope (id, tenant, time) for headers and logs.
    pub fn envelope(&self) -> &Envelope {
        match self {
            GatewayEvent::Inbound(e) => &e.envelope,
            GatewayEvent::Status(e) => &e.envelope,
            GatewayEvent::OwnerDecision(e) => &e.envelope,
            GatewayEvent::Payment(e) => &e.envelope,
            GatewayEvent::CatalogItem(e) => &e.envelope,
            GatewayEvent::Batch(e) => &e.envelope,
            GatewayEvent::Settings(e) => &e.envelope,
            GatewayEvent::Partner(e) => &e.envelope,
            GatewayEvent::Product(e) => &e.envelope,
            GatewayEvent::Bundle(e) => &e.envelope,
            GatewayEvent::PartnerReply(e) => &e.envelope,
            GatewayEvent::Chat(e) => &e.envelope,
            GatewayEvent::EscalationAssigned(e) => &e.envelope,
            GatewayEvent::EscalationStarted(e) => &e.envelope,
            GatewayEvent::EscalationResolved(e) => &e.envelope,
            GatewayEvent::Intervened(e) => &e.envelope,
            GatewayEvent::ItemAdd(e) => &e.envelope,
            GatewayEvent::RankingWeights(e) => &e.envelope,
            GatewayEvent::Promotion(e) => &e.envelope,
            GatewayEvent::Consent(e) => &e.envelope,
            GatewayEvent::StandingIntent(e) => &e.envelope,
            GatewayEvent::IntentDecided(e) => &e.envelope,
            GatewayEvent::IntentCancel(e) => &e.envelope,
            GatewayEvent::Observation(e) => &e.envelope,
            GatewayEvent::Checkout(e) => &e.envelope,
            GatewayEvent::LegDelivered(e) => &e.envelope,
            GatewayEvent::SubjectKey(e) => &e.envelope,
            GatewayEvent::CustomerMessage(e) => &e.envelope,
            GatewayEvent::SocialStatus(e) => &e.envelope,
            GatewayEvent::ReplyDecided(e) => &e.envelope,
            GatewayEvent::NotificationRead(e) => &e.envelope,
            GatewayEvent::KeyTombstone(e) => e,
            GatewayEvent::Erasure(e) => &e.envelope,
            GatewayEvent::ProductCommand(c) => souk_schemas::StreamEvent::envelope(c),
            GatewayEvent::RuleCommand(c) => souk_schemas::StreamEvent::envelope(c),
            GatewayEvent::AuthAttempt(e) => &e.envelope,
            GatewayEvent::ConnectionCommand(c) => souk_schemas::StreamEvent::envelope(c),
        }
    }

    /// The event as JSON in its union form `{"RecordName": {...}}`; the codec writes it in the
    /// shape its topic's schema has (a bare record or a union).
    pub fn to_json(&self) -> Result<Json, serde_json::Error> {
        let record = match self {
            GatewayEvent::Inbound(e) => serde_json::to_value(e)?,
            GatewayEvent::Status(e) => serde_json::to_value(e)?,
            GatewayEvent::OwnerDecision(e) => serde_json::to_value(e)?,
            GatewayEvent::Payment(e) => serde_json::to_value(e)?,
            GatewayEvent::CatalogItem(e) => serde_json::to_value(e)?,
            GatewayEvent::Batch(e) => serde_json::to_value(e)?,
            GatewayEvent::Settings(e) => serde_json::to_value(e)?,
            GatewayEvent::Partner(e) => serde_json::to_value(e)?,
            GatewayEvent::Product(e) => serde_json::to_value(e)?,
            GatewayEvent::Bundle(e) => serde_json::to_value(e)?,
            GatewayEvent::PartnerReply(e) => serde_json::to_value(e)?,
            GatewayEvent::Chat(e) => serde_json::to_value(e)?,
            GatewayEvent::EscalationAssigned(e) => serde_json::to_value(e)?,
            GatewayEvent::EscalationStarted(e) => serde_json::to_value(e)?,
            GatewayEvent::EscalationResolved(e) => serde_json::to_value(e)?,
            GatewayEvent::Intervened(e) => serde_json::to_value(e)?,
            GatewayEvent::ItemAdd(e) => serde_json::to_value(e)?,
            GatewayEvent::RankingWeights(e) => serde_json::to_value(e)?,
            GatewayEvent::Promotion(e) => serde_json::to_value(e)?,
            GatewayEvent::Consent(e) => serde_json::to_value(e)?,
            GatewayEvent::StandingIntent(e) => serde_json::to_value(e)?,
            GatewayEvent::IntentDecided(e) => serde_json::to_value(e)?,
            GatewayEvent::IntentCancel(e) => serde_json::to_value(e)?,
            GatewayEvent::Observation(e) => serde_json::to_value(e)?,
            GatewayEvent::Checkout(e) => serde_json::to_value(e)?,
            GatewayEvent::LegDelivered(e) => serde_json::to_value(e)?,
            GatewayEvent::SubjectKey(e) => serde_json::to_value(e)?,
            GatewayEvent::CustomerMessage(e) => serde_json::to_value(e)?,
            GatewayEvent::SocialStatus(e) => serde_json::to_value(e)?,
            GatewayEvent::ReplyDecided(e) => serde_json::to_value(e)?,
            GatewayEvent::NotificationRead(e) => serde_json::to_value(e)?,
            GatewayEvent::KeyTombstone(_) => serde_json::Value::Null,
            GatewayEvent::Erasure(e) => serde_json::to_value(e)?,
            GatewayEvent::ProductCommand(c) => return serde_json::to_value(c),
            GatewayEvent::RuleCommand(c) => return serde_json::to_value(c),
            GatewayEvent::AuthAttempt(e) => serde_json::to_value(e)?,
            GatewayEvent::ConnectionCommand(c) => return serde_json::to_value(c),
        };
        Ok(json!({ self.record_name(): record }))
    }
}

/// One event to publish: logical output, record key (`<tenant>|...`) and the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// Logical output; always `event.output()` when built with [`Publish::new`].
    pub output: &'static str,
    /// Record key; decides the partition (and so the ordering scope).
    pub key: String,
    /// The event.
    pub event: GatewayEvent,
}

impl Publish {
    /// A record for `event` under `key`, on the event's own output.
    pub fn new(key: impl Into<String>, event: GatewayEvent) -> Publish {
        Publish { output: event.output(), key: key.into(), event }
    }
}

/// Why a batch was not published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// Broker or registry unavailable, or an ack missing: retrying later may succeed (HTTP 503).
    #[error("publishing failed: {0}")]
    Unavailable(String),
    /// The event does not fit its topic (a bug, or a topology lacking the record): HTTP 500.
    #[error("event rejected: {0}")]
    Rejected(String),
}

/// Publishes a batch of events. Returns `Ok` only once the broker acknowledged every record; on
/// `Err` the caller reports failure and the client retries the whole batch — any record that did
/// land keeps its event id, so the copy is dropped downstream (ids are derived from the input).
/// Returns a boxed future so the gateway can hold any implementation as `Arc<dyn EventPublisher>`.
pub trait EventPublisher: Send + Sync {
    /// Publishes `records` in order; all acknowledged, or an error.
    fn publish(&self, records: Vec<Publish>) -> BoxFuture<'_, Result<(), PublishError>>;
}

/// The Kafka publisher: Confluent-framed Avro through [`Codec`], real topic names from the
/// gateway's `outputs` in the [`Topology`] (test prefix applied), the engine's trace headers, and `send_all` on an
/// idempotent acks=all producer. Every record is encoded before the first one is sent, so an
/// event that does not fit its schema sends nothing.
pub struct KafkaPublisher {
    producer: FutureProducer,
    codec: Arc<Codec>,
    /// Logical output → real topic name.
    topics: BTreeMap<String, String>,
}

/// The kind of the gateway in topology.toml, whose `outputs` say where its events go.
pub const GATEWAY_KIND: &str = "http-gateway";

impl KafkaPublisher {
    /// A publisher on a fresh `souk_runtime::kafka::producer(bootstrap)`.
    pub fn connect(bootstrap: &str, codec: Arc<Codec>, topology: &Topology) -> anyhow::Result<KafkaPublisher> {
        KafkaPublisher::new(souk_runtime::kafka::producer(bootstrap)?, codec, topology)
    }

    /// A publisher on an existing producer (shared with other components of the process), writing
    /// where the topology's gateway producer (kind [`GATEWAY_KIND`]) declares its outputs.
    pub fn new(producer: FutureProducer, codec: Arc<Codec>, topology: &Topology) -> anyhow::Result<KafkaPublisher> {
        let (name, _) = topology.producers.iter().find(|(_, p)| p.kind.get_ref() == GATEWAY_KIND).ok_or_else(|| anyhow::anyhow!("the topology declares no producer of kind {GATEWAY_KIND}"))?;
        let topics = topology.component(Role::Producer, name)?.outputs;
        Ok(KafkaPublisher { producer, codec, topics })
    }

    async fn encode(&self, record: &Publish) -> Result<OutRecord, PublishError> {
        let topic = self.topics.get(record.output).ok_or_else(|| PublishError::Rejected(format!("the gateway declares no `{}` output in topology.toml", record.output)))?;
        if let GatewayEvent::KeyTombstone(envelope) = &record.event {
            let mut out = OutRecord::event(topic, &record.key, Vec::new(), envelope);
            out.payload = None;
            return Ok(out);
        }
        let json = record.event.to_json().map_err(|e| PublishError::Rejected(e.to_string()))?;
        let payload = self.codec.encode_json(topic, &json).await.map_err(|e| match e {
            CodecError::Registry { .. } => PublishError::Unavailable(e.to_string()),
            other => PublishError::Rejected(other.to_string()),
        })?;
        Ok(OutRecord::event(topic, &record.key, payload, record.event.envelope()))
    }
}

impl EventPublisher for KafkaPublisher {
    fn publish(&self, records: Vec<Publish>) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(records.len());
            for r in &records {
                out.push(self.encode(r).await?);
            }
            send_all(&self.producer, out).await.map(drop).map_err(|e| PublishError::Unavailable(format!("{e:#}")))
        })
    }
}
