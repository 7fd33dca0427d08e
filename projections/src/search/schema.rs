//! The search index's schema and documents, shared by the writer (the `search-index` sink) and the
//! readers (the search API), so both sides agree on field names, tokenizers and document ids
//! without the read side depending on the sinks crate.

use rust_decimal::Decimal;
use std::path::Path;
use tantivy::directory::MmapDirectory;
use tantivy::schema::{Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, STORED, STRING};
use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};
use tantivy::{Index, TantivyDocument};

/// Name of the analyzer of every full-text field: split on non-alphanumerics, lowercase, fold
/// accents, so Hinglish words ("laal", "Kapda") and catalog words ("Cotton", "LOT-7") match however
/// they were typed.
pub const TEXT_TOKENIZER: &str = "souk_text";

/// What a document describes; also the `kind` filter of the search API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocKind {
    /// One (material, color) pool of a tenant's catalog.
    Catalog,
    /// One message, in or out: WhatsApp, a bundle's chat, a negotiation's partner reply, a note to
    /// the user.
    Message,
    /// A partner (vendor) of the orchestration system.
    Partner,
    /// A partner's product.
    Product,
    /// The tenant's discovery ranking weights (not searchable).
    Ranking,
    /// A partner promotion (not searchable).
    Promotion,
}

impl DocKind {
    /// The kinds `GET /v1/search` finds (the others are discovery's settings).
    pub const SEARCHABLE: [DocKind; 4] = [DocKind::Catalog, DocKind::Message, DocKind::Partner, DocKind::Product];

    /// The stored/indexed value of the `kind` field.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Catalog => "catalog",
            DocKind::Message => "message",
            DocKind::Partner => "partner",
            DocKind::Product => "product",
            DocKind::Ranking => "ranking",
            DocKind::Promotion => "promotion",
        }
    }

    /// Parses a stored `kind` (also the API's `kind` parameter, restricted to [`Self::SEARCHABLE`]).
    pub fn parse(s: &str) -> Option<DocKind> {
        [DocKind::Catalog, DocKind::Message, DocKind::Partner, DocKind::Product, DocKind::Ranking, DocKind::Promotion].into_iter().find(|k| k.as_str() == s)
    }
}

/// The index schema with a handle to each field (built once, identical on both sides).
#[derive(Debug, Clone)]
pub struct SearchSchema {
    /// The tantivy schema.
    pub schema: Schema,
    /// Unique key: `catalog:<tenant>|<material>|<color>` or `message:<tenant>|<message id>`.
    pub doc_id: Field,
    /// Tenant id, exact (every query is scoped by it).
    pub tenant: Field,
    /// `catalog` or `message`, exact.
    pub kind: Field,
    /// Material name (catalog).
    pub material: Field,
    /// Color (catalog).
    pub color: Field,
    /// Dye lots of the pool's batches, space separated (catalog).
    pub dye_lots: Field,
    /// Other names customers use for the material (catalog).
    pub aliases: Field,
    /// Message text (message).
    pub text: Field,
    /// Price per meter as a decimal string, display only (catalog).
    pub price: Field,
    /// Available meters as a decimal string, display only (catalog).
    pub available_meters: Field,
    /// `in` or `out` (message).
    pub direction: Field,
    /// Customer wa_id (message).
    pub customer: Field,
    /// Source time of the event that wrote the document, epoch ms.
    pub occurred_at: Field,
    /// Partner or product name (partner, product).
    pub name: Field,
    /// The partner a product, promotion or partner document belongs to, exact.
    pub partner_id: Field,
    /// Capability tags, exact and lowercased, one value each (partner, product: the filter).
    pub capability: Field,
    /// Capability tags as text (partner, product: found by free text).
    pub tags: Field,
    /// Price in ten-thousandths of the currency unit (product: the price-range filter).
    pub price_e4: Field,
    /// The conversation a message belongs to: order id (textile) or bundle id (orchestration).
    pub thread: Field,
    /// The document's whole record as JSON (partner, product, ranking, promotion).
    pub payload: Field,
}

impl Default for SearchSchema {
    fn default() -> Self {
        SearchSchema::new()
    }
}

impl SearchSchema {
    /// Builds the schema.
    pub fn new() -> SearchSchema {
        let mut b = Schema::builder();
        let text = text_options();
        let doc_id = b.add_text_field("doc_id", STRING | STORED);
        let tenant = b.add_text_field("tenant", STRING | STORED);
        let kind = b.add_text_field("kind", STRING | STORED);
        let material = b.add_text_field("material", text.clone());
        let color = b.add_text_field("color", text.clone());
        let dye_lots = b.add_text_field("dye_lots", text.clone());
        let aliases = b.add_text_field("aliases", text.clone());
        let body = b.add_text_field("text", text);
        let price = b.add_text_field("price", STORED);
        let available_meters = b.add_text_field("available_meters", STORED);
        let direction = b.add_text_field("direction", STRING | STORED);
        let customer = b.add_text_field("customer", STRING | STORED);
        let occurred_at = b.add_i64_field("occurred_at", NumericOptions::default().set_stored().set_fast());
        let name = b.add_text_field("name", text_options());
        let partner_id = b.add_text_field("partner_id", STRING | STORED);
        let capability = b.add_text_field("capability", STRING | STORED);
        let tags = b.add_text_field("tags", text_options());
        let price_e4 = b.add_i64_field("price_e4", NumericOptions::default().set_indexed().set_fast().set_stored());
        let thread = b.add_text_field("thread", STRING | STORED);
        let payload = b.add_text_field("payload", STORED);
        SearchSchema {
            schema: b.build(),
            doc_id,
            tenant,
            kind,
            material,
            color,
            dye_lots,
            aliases,
            text: body,
            price,
            available_meters,
            direction,
            customer,
            occurred_at,
            name,
            partner_id,
            capability,
            tags,
            price_e4,
            thread,
            payload,
        }
    }

    /// The fields a user query searches.
    pub fn text_fields(&self) -> Vec<Field> {
        vec![self.material, self.color, self.dye_lots, self.aliases, self.text, self.name, self.tags]
    }
}

/// A stored full-text field analyzed with [`TEXT_TOKENIZER`].
fn text_options() -> TextOptions {
    TextOptions::default().set_indexing_options(TextFieldIndexing::default().set_tokenizer(TEXT_TOKENIZER).set_index_option(IndexRecordOption::WithFreqsAndPositions)).set_stored()
}

/// Registers [`TEXT_TOKENIZER`] on an index; needed by every writer and reader of it.
pub fn register_tokenizers(index: &Index) {
    let analyzer = TextAnalyzer::builder(SimpleTokenizer::default()).filter(RemoveLongFilter::limit(64)).filter(LowerCaser).filter(AsciiFoldingFilter).build();
    index.tokenizers().register(TEXT_TOKENIZER, analyzer);
}

/// Opens the index in `dir`, creating the directory and an empty index when missing (the writer).
/// An index written with another schema (an older souk) is derived data: it is removed and built
/// again from the log (its commit payload, the input positions, goes with it).
pub fn open_or_create(dir: &Path) -> anyhow::Result<Index> {
    if let Some(stale) = open_existing_any(dir)?.filter(|index| index.schema() != SearchSchema::new().schema) {
        drop(stale);
        tracing::warn!(dir = %dir.display(), "the search index has an older schema: rebuilding it from the log");
        std::fs::remove_dir_all(dir).map_err(|e| anyhow::anyhow!("removing the stale index {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
    let mmap = MmapDirectory::open(dir).map_err(|e| anyhow::anyhow!("opening {}: {e}", dir.display()))?;
    let index = Index::open_or_create(mmap, SearchSchema::new().schema).map_err(|e| anyhow::anyhow!("opening the search index in {}: {e}", dir.display()))?;
    register_tokenizers(&index);
    Ok(index)
}

/// Opens an existing index in `dir` for reading; `None` while no writer has created it yet, or while
/// it still has an older schema (its writer rebuilds it on start).
pub fn open_existing(dir: &Path) -> anyhow::Result<Option<Index>> {
    Ok(open_existing_any(dir)?.filter(|index| index.schema() == SearchSchema::new().schema))
}

fn open_existing_any(dir: &Path) -> anyhow::Result<Option<Index>> {
    if !dir.join("meta.json").exists() {
        return Ok(None);
    }
    let index = Index::open_in_dir(dir).map_err(|e| anyhow::anyhow!("opening the search index in {}: {e}", dir.display()))?;
    register_tokenizers(&index);
    Ok(Some(index))
}

/// The catalog document of one (material, color) pool, as of its latest `StockLevelChanged`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogDoc {
    /// Tenant.
    pub tenant: String,
    /// Material.
    pub material: String,
    /// Color.
    pub color: String,
    /// Dye lots of its batches (known ones).
    pub dye_lots: Vec<String>,
    /// Other names of the material.
    pub aliases: Vec<String>,
    /// Catalog price per meter, when set.
    pub price_per_meter: Option<Decimal>,
    /// Meters free to hold.
    pub available_meters: Decimal,
    /// Source time.
    pub occurred_at: i64,
}

impl CatalogDoc {
    /// `catalog:<tenant>|<material>|<color>`.
    pub fn doc_id(&self) -> String {
        format!("catalog:{}|{}|{}", self.tenant, self.material, self.color)
    }

    /// The tantivy document.
    pub fn to_document(&self, s: &SearchSchema) -> TantivyDocument {
        let mut d = TantivyDocument::default();
        d.add_text(s.doc_id, self.doc_id());
        d.add_text(s.tenant, &self.tenant);
        d.add_text(s.kind, DocKind::Catalog.as_str());
        d.add_text(s.material, &self.material);
        d.add_text(s.color, &self.color);
        d.add_text(s.dye_lots, self.dye_lots.join(" "));
        d.add_text(s.aliases, self.aliases.join(" "));
        if let Some(p) = self.price_per_meter {
            d.add_text(s.price, p.to_string());
        }
        d.add_text(s.available_meters, self.available_meters.to_string());
        d.add_i64(s.occurred_at, self.occurred_at);
        d
    }
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the customer.
    In,
    /// To the customer.
    Out,
}

impl Direction {
    /// Stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// One WhatsApp message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageDoc {
    /// Tenant.
    pub tenant: String,
    /// wamid (inbound) or the request's event id (outbound).
    pub message_id: String,
    /// In or out.
    pub direction: Direction,
    /// Who the message is with: the customer's wa_id, a bundle's user or a partner.
    pub customer: String,
    /// Text (empty for unsupported message types).
    pub text: String,
    /// The order (textile) or bundle (orchestration) it is about, when known.
    pub thread: Option<String>,
    /// Source time.
    pub occurred_at: i64,
}

impl MessageDoc {
    /// `message:<tenant>|<message id>`.
    pub fn doc_id(&self) -> String {
        format!("message:{}|{}", self.tenant, self.message_id)
    }

    /// The tantivy document.
    pub fn to_document(&self, s: &SearchSchema) -> TantivyDocument {
        let mut d = TantivyDocument::default();
        d.add_text(s.doc_id, self.doc_id());
        d.add_text(s.tenant, &self.tenant);
        d.add_text(s.kind, DocKind::Message.as_str());
        d.add_text(s.text, &self.text);
        d.add_text(s.direction, self.direction.as_str());
        d.add_text(s.customer, &self.customer);
        if let Some(thread) = &self.thread {
            d.add_text(s.thread, thread);
        }
        d.add_i64(s.occurred_at, self.occurred_at);
        d
    }
}
