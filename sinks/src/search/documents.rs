//! What each input record does to the index: a pure mapping from decoded events to upserts, kept
//! apart from the consumer loop so it is tested without a broker.

use souk_projections::search::{CatalogDoc, Direction, MessageDoc, SearchSchema};
use souk_schemas::inventory::InventoryEvent;
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
}

impl InputTopic {
    /// The input a declared (unprefixed) topic name stands for.
    pub fn from_declared(name: &str) -> Option<InputTopic> {
        match name {
            "inventory.events" => Some(InputTopic::Inventory),
            "whatsapp.inbound" => Some(InputTopic::Inbound),
            "whatsapp.outbound" => Some(InputTopic::Outbound),
            _ => None,
        }
    }
}

/// One index change: replace whatever document has `doc_id` with `doc`.
#[derive(Debug, Clone)]
pub struct Upsert {
    /// The document's key.
    pub doc_id: String,
    /// The new document.
    pub doc: TantivyDocument,
}

/// The upsert a record causes, if any (holds, reservations and the like change nothing here).
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
            Some(Upsert { doc_id: doc.doc_id(), doc: doc.to_document(schema) })
        }
        Input::Inventory(_) => None,
        Input::Inbound(InboundEvent::InboundMessage(m)) => {
            let doc = MessageDoc {
                tenant: m.envelope.tenant_id.clone(),
                message_id: m.wamid.clone(),
                direction: Direction::In,
                customer: m.wa_id.clone(),
                text: m.text.clone().unwrap_or_default(),
                occurred_at: m.envelope.occurred_at,
            };
            Some(Upsert { doc_id: doc.doc_id(), doc: doc.to_document(schema) })
        }
        Input::Outbound(OutboundEvent::OutboundMessageRequested(m)) => {
            let doc = MessageDoc {
                tenant: m.envelope.tenant_id.clone(),
                message_id: m.envelope.event_id.clone(),
                direction: Direction::Out,
                customer: m.to.clone(),
                text: m.text.clone(),
                occurred_at: m.envelope.occurred_at,
            };
            Some(Upsert { doc_id: doc.doc_id(), doc: doc.to_document(schema) })
        }
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
        assert_eq!(u.doc.get_first(s.dye_lots).and_then(|v| v.as_str()), Some("LOT-9"));
        assert_eq!(u.doc.get_first(s.price).and_then(|v| v.as_str()), Some("120.50"));
    }
}
