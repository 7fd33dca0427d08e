//! What each input record does to the index: a pure mapping from decoded events to upserts and
//! deletions, kept apart from the consumer loop so it is tested without a broker.

use souk_processors::trust::{self, TrustFacts};
use souk_projections::search::{CatalogDoc, Direction, MessageDoc, PartnerDoc, ProductDoc, PromotionDoc, RankingDoc, SearchSchema, Weights};
use souk_schemas::bundles::{ChatEvent, PartnerEvent, PartnerUpserted, ProductEvent, ProductUpserted};
use souk_schemas::discovery::RankingEvent;
use souk_schemas::inventory::InventoryEvent;
use souk_schemas::orchestration::{NegotiationEvent, NegotiationInput};
use souk_schemas::whatsapp::{InboundEvent, OutboundEvent};
use tantivy::TantivyDocument;

/// A decoded record of one of the sink's input topics.
#[derive(Debug, Clone)]
pub enum Input {
    /// `inventory.events`.
    Inventory(InventoryEvent),
    /// `whatsapp.inbound`.
    Inbound(InboundEvent),
    /// `whatsapp.outbound`.
    Outbound(OutboundEvent),
    /// `partners`.
    Partner(PartnerEvent),
    /// `partner.products`.
    Product(ProductEvent),
    /// `discovery.ranking`.
    Ranking(RankingEvent),
    /// `chat.inbound`.
    Chat(ChatEvent),
    /// `negotiation.inputs`.
    NegotiationIn(NegotiationInput),
    /// `negotiation.events`.
    NegotiationOut(NegotiationEvent),
}

/// Which of the sink's inputs a topic is (decides the Avro union it decodes to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputTopic {
    /// `inventory.events`.
    Inventory,
    /// `whatsapp.inbound`.
    Inbound,
    /// `whatsapp.outbound`.
    Outbound,
    /// `partners`.
    Partners,
    /// `partner.products`.
    Products,
    /// `discovery.ranking`.
    Ranking,
    /// `chat.inbound`.
    Chat,
    /// `negotiation.inputs`.
    NegotiationInputs,
    /// `negotiation.events`.
    NegotiationEvents,
    /// `social.events` (sealed: opened with the key ring, [`super::social`]).
    Social,
}

impl InputTopic {
    /// The input a declared (unprefixed) topic name stands for.
    pub fn from_declared(name: &str) -> Option<InputTopic> {
        match name {
            "inventory.events" => Some(InputTopic::Inventory),
            "whatsapp.inbound" => Some(InputTopic::Inbound),
            "whatsapp.outbound" => Some(InputTopic::Outbound),
            "partners" => Some(InputTopic::Partners),
            "partner.products" => Some(InputTopic::Products),
            "discovery.ranking" => Some(InputTopic::Ranking),
            "chat.inbound" => Some(InputTopic::Chat),
            "negotiation.inputs" => Some(InputTopic::NegotiationInputs),
            "negotiation.events" => Some(InputTopic::NegotiationEvents),
            "social.events" => Some(InputTopic::Social),
            _ => None,
        }
    }
}

/// One index change: whatever document has `doc_id` is replaced by `doc`, or removed when `doc` is
/// `None` (a removed partner or product, a withdrawn promotion).
#[derive(Debug, Clone)]
pub struct Upsert {
    /// The document's key.
    pub doc_id: String,
    /// The new document.
    pub doc: Option<TantivyDocument>,
}

/// What a record does to the index: one document replaced, or every message document of a
/// customer removed (an erasure, rules PR2).
#[derive(Debug, Clone)]
pub enum Change {
    /// Replace (or remove) one document.
    Put(Upsert),
    /// Remove every message document of `customer` (the conversation's subject) in `tenant`.
    ForgetCustomer {
        /// The tenant.
        tenant: String,
        /// The subject whose messages go.
        customer: String,
    },
}

impl Change {
    /// [`Change::Put`] of `doc` under `doc_id`.
    pub fn put(doc_id: String, doc: Option<TantivyDocument>) -> Change {
        Change::Put(Upsert { doc_id, doc })
    }
}

fn message(schema: &SearchSchema, doc: MessageDoc) -> Option<Upsert> {
    Some(Upsert { doc_id: doc.doc_id(), doc: Some(doc.to_document(schema)) })
}

fn partner_doc(p: &PartnerUpserted) -> PartnerDoc {
    let facts = TrustFacts {
        licence: p.licence_verified,
        insurance: p.insurance_verified,
        tax_id: p.tax_id_verified,
        positive_reviews: u32::try_from(p.positive_reviews).unwrap_or(0),
        on_time_percent: u8::try_from(p.on_time_percent).ok(),
    };
    PartnerDoc {
        tenant: p.envelope.tenant_id.clone(),
        partner_id: p.partner_id.clone(),
        name: p.name.clone(),
        business_type: p.business_type.clone(),
        lat: p.lat.0,
        lng: p.lng.0,
        capabilities: p.capabilities.clone(),
        trust_score: trust::score(&facts),
        white_glove: trust::is_white_glove(&facts),
        preparation_minutes: p.preparation_minutes,
        occurred_at: p.envelope.occurred_at,
    }
}

fn product_doc(p: &ProductUpserted) -> ProductDoc {
    ProductDoc {
        tenant: p.envelope.tenant_id.clone(),
        product_id: p.product_id.clone(),
        partner_id: p.partner_id.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        price: p.price,
        currency: p.currency.clone(),
        capabilities: p.capabilities.clone(),
        inventory_count: p.inventory_count,
        margin_percent: p.margin_percent,
        occurred_at: p.envelope.occurred_at,
    }
}

/// The change a record causes, if any (holds, reservations, ticks and the like change nothing here).
pub fn upsert_for(schema: &SearchSchema, input: &Input) -> Option<Upsert> {
    match input {
        Input::Inventory(InventoryEvent::StockLevelChanged(e)) => {
            let mut dye_lots: Vec<String> = e.batches.iter().filter_map(|b| b.dye_lot.clone()).collect();
            dye_lots.sort();
            dye_lots.dedup();
            let doc = CatalogDoc {
                tenant: e.envelope.tenant_id.clone(),
                material: e.material.clone(),
                color: e.color.clone(),
                dye_lots,
                aliases: e.aliases.clone(),
                price_per_meter: e.price_per_meter,
                available_meters: e.available_meters,
                occurred_at: e.envelope.occurred_at,
            };
            Some(Upsert { doc_id: doc.doc_id(), doc: Some(doc.to_document(schema)) })
        }
        Input::Inventory(_) => None,
        Input::Inbound(InboundEvent::InboundMessage(m)) => message(
            schema,
            MessageDoc {
                tenant: m.envelope.tenant_id.clone(),
                message_id: m.wamid.clone(),
                direction: Direction::In,
                customer: m.wa_id.clone(),
                text: m.text.clone().unwrap_or_default(),
                thread: None,
                occurred_at: m.envelope.occurred_at,
            },
        ),
        Input::Outbound(OutboundEvent::OutboundMessageRequested(m)) => message(
            schema,
            MessageDoc {
                tenant: m.envelope.tenant_id.clone(),
                message_id: m.envelope.event_id.clone(),
                direction: Direction::Out,
                customer: m.to.clone(),
                text: m.text.clone(),
                thread: m.order_id.clone(),
                occurred_at: m.envelope.occurred_at,
            },
        ),
        Input::Partner(PartnerEvent::PartnerUpserted(p)) => {
            let doc_id = PartnerDoc::doc_id_of(&p.envelope.tenant_id, &p.partner_id);
            Some(Upsert { doc_id, doc: p.active.then(|| partner_doc(p).to_document(schema)) })
        }
        Input::Product(ProductEvent::ProductUpserted(p)) => {
            let doc_id = ProductDoc::doc_id_of(&p.envelope.tenant_id, &p.product_id);
            Some(Upsert { doc_id, doc: p.active.then(|| product_doc(p).to_document(schema)) })
        }
        Input::Ranking(RankingEvent::RankingWeightsSet(w)) => {
            let doc = RankingDoc {
                tenant: w.envelope.tenant_id.clone(),
                weights: Weights { relevance: w.relevance, boost: w.boost, quality: w.quality, margin: w.margin },
                occurred_at: w.envelope.occurred_at,
            };
            Some(Upsert { doc_id: RankingDoc::doc_id_of(&doc.tenant), doc: Some(doc.to_document(schema)) })
        }
        Input::Ranking(RankingEvent::PartnerPromoted(p)) => {
            let tenant = p.envelope.tenant_id.clone();
            let doc = PromotionDoc {
                tenant: tenant.clone(),
                partner_id: p.partner_id.clone(),
                promotion_type: p.promotion_type.clone(),
                weight: p.weight,
                starts_at: p.starts_at,
                ends_at: p.ends_at,
                occurred_at: p.envelope.occurred_at,
            };
            Some(Upsert { doc_id: PromotionDoc::doc_id_of(&tenant, &p.partner_id), doc: p.active.then(|| doc.to_document(schema)) })
        }
        Input::Chat(ChatEvent::ChatMessageReceived(m)) => message(
            schema,
            MessageDoc {
                tenant: m.envelope.tenant_id.clone(),
                message_id: m.envelope.event_id.clone(),
                direction: Direction::In,
                customer: m.user_id.clone(),
                text: m.text.clone(),
                thread: Some(m.bundle_id.clone()),
                occurred_at: m.envelope.occurred_at,
            },
        ),
        Input::NegotiationIn(NegotiationInput::PartnerReplied(r)) => {
            let text = r.text.clone().or_else(|| r.button_id.clone())?;
            message(
                schema,
                MessageDoc {
                    tenant: r.envelope.tenant_id.clone(),
                    message_id: r.envelope.event_id.clone(),
                    direction: Direction::In,
                    customer: r.partner_id.clone(),
                    text,
                    thread: Some(r.bundle_id.clone()),
                    occurred_at: r.envelope.occurred_at,
                },
            )
        }
        Input::NegotiationIn(_) => None,
        Input::NegotiationOut(NegotiationEvent::UserNotified(n)) => message(
            schema,
            MessageDoc {
                tenant: n.envelope.tenant_id.clone(),
                message_id: n.envelope.event_id.clone(),
                direction: Direction::Out,
                customer: n.thread_id.clone(),
                text: n.text.clone(),
                thread: Some(n.bundle_id.clone()),
                occurred_at: n.envelope.occurred_at,
            },
        ),
        Input::NegotiationOut(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use souk_schemas::inventory::{BatchLevel, StockLevelChanged};
    use souk_schemas::Envelope;

    #[test]
    fn stock_level_becomes_one_catalog_doc_with_sorted_unique_dye_lots() {
        let batch = |id: &str, lot: Option<&str>| BatchLevel {
            batch_id: id.into(),
            dye_lot: lot.map(str::to_string),
            rolls: 1,
            meters_per_roll: Decimal::new(50, 0),
            loose_meters: Decimal::ZERO,
            held_meters: Decimal::ZERO,
            available_meters: Decimal::new(50, 0),
            price_per_meter: None,
            received_at: 0,
        };
        let e = StockLevelChanged {
            envelope: Envelope::external("acme", "s1", 5),
            material: "cotton".into(),
            color: "laal".into(),
            batches: vec![batch("b1", Some("LOT-9")), batch("b2", None), batch("b3", Some("LOT-9"))],
            on_hand_meters: Decimal::new(150, 0),
            held_meters: Decimal::ZERO,
            available_meters: Decimal::new(150, 0),
            price_per_meter: Some(Decimal::new(12050, 2)),
            aliases: vec!["sooti".into()],
        };
        let s = SearchSchema::new();
        let u = upsert_for(&s, &Input::Inventory(InventoryEvent::StockLevelChanged(e))).expect("upsert");
        assert_eq!(u.doc_id, "catalog:acme|cotton|laal");
        use tantivy::schema::Value;
        let doc = u.doc.expect("a document");
        assert_eq!(doc.get_first(s.dye_lots).and_then(|v| v.as_str()), Some("LOT-9"));
        assert_eq!(doc.get_first(s.price).and_then(|v| v.as_str()), Some("120.50"));
    }
}
