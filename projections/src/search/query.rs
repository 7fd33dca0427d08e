//! Tenant-scoped queries over the search index: the only way the read side searches, so no
//! caller can forget the tenant filter.

use super::schema::{DocKind, SearchSchema};
use serde::Serialize;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{IndexReader, TantivyDocument, Term};

/// Largest `limit` a search honours.
pub const MAX_LIMIT: usize = 100;

/// Why a search failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The user's query does not parse (HTTP 400).
    #[error("bad query: {0}")]
    BadQuery(String),
    /// The index could not be read (HTTP 500).
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
}

/// One matching document, with its display fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// The document's key (`catalog:…` or `message:…`).
    pub doc_id: String,
    /// Catalog or message.
    pub kind: DocKind,
    /// BM25 score.
    pub score: f32,
    /// Material (catalog).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub material: Option<String>,
    /// Color (catalog).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Dye lots, space separated (catalog).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dye_lots: Option<String>,
    /// Aliases, space separated (catalog).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aliases: Option<String>,
    /// Price per meter as a decimal string (catalog, when set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_per_meter: Option<String>,
    /// Available meters as a decimal string (catalog).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_meters: Option<String>,
    /// Message text (message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `in` / `out` (message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// Who the message is with (message): customer wa_id, bundle user or partner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// The order or bundle a message is about (message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
    /// Partner or product name (partner, product).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The partner (partner, product).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    /// Price as a decimal string (product).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// Capability tags (partner, product).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// Source time, epoch ms.
    pub occurred_at: i64,
}

fn exact(field: tantivy::schema::Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic))
}

/// Searches `tenant`'s documents for `q` (tantivy query syntax over material, color, dye lots,
/// aliases and message text; empty = everything), optionally only one `kind`, best first, at most
/// `limit` (clamped to 1..=[`MAX_LIMIT`]). The tenant is a MUST clause, so nothing of another
/// tenant can match; a query that does not parse is [`SearchError::BadQuery`].
pub fn search(reader: &IndexReader, tenant: &str, q: &str, kind: Option<DocKind>, limit: usize) -> Result<Vec<Hit>, SearchError> {
    let s = SearchSchema::new();
    let searcher = reader.searcher();
    let user: Box<dyn Query> = if q.trim().is_empty() {
        Box::new(AllQuery)
    } else {
        let parser = QueryParser::for_index(searcher.index(), s.text_fields());
        parser.parse_query(q).map_err(|e| SearchError::BadQuery(e.to_string()))?
    };
    let kinds: Vec<(Occur, Box<dyn Query>)> = match kind {
        Some(k) => vec![(Occur::Should, exact(s.kind, k.as_str()))],
        None => DocKind::SEARCHABLE.iter().map(|k| (Occur::Should, exact(s.kind, k.as_str()))).collect(),
    };
    let clauses = vec![(Occur::Must, exact(s.tenant, tenant)), (Occur::Must, user), (Occur::Must, Box::new(BooleanQuery::new(kinds)) as Box<dyn Query>)];
    let query = BooleanQuery::new(clauses);
    let top = searcher.search(&query, &TopDocs::with_limit(limit.clamp(1, MAX_LIMIT)))?;
    let mut hits = Vec::with_capacity(top.len());
    for (score, address) in top {
        let doc: TantivyDocument = searcher.doc(address)?;
        let text = |f| doc.get_first(f).and_then(|v| v.as_str()).map(str::to_string);
        let kind = text(s.kind).as_deref().and_then(DocKind::parse).unwrap_or(DocKind::Message);
        hits.push(Hit {
            doc_id: text(s.doc_id).unwrap_or_default(),
            kind,
            score,
            material: text(s.material),
            color: text(s.color),
            dye_lots: text(s.dye_lots).filter(|v| !v.is_empty()),
            aliases: text(s.aliases).filter(|v| !v.is_empty()),
            price_per_meter: text(s.price).filter(|_| kind == DocKind::Catalog),
            available_meters: text(s.available_meters),
            text: text(s.text),
            direction: text(s.direction),
            customer: text(s.customer),
            thread: text(s.thread),
            name: text(s.name),
            partner_id: text(s.partner_id),
            price: text(s.price).filter(|_| kind == DocKind::Product),
            capabilities: doc.get_all(s.capability).filter_map(|v| v.as_str().map(str::to_string)).collect(),
            occurred_at: doc.get_first(s.occurred_at).and_then(|v| v.as_i64()).unwrap_or_default(),
        });
    }
    Ok(hits)
}

/// How many live documents carry `doc_id` (1 after any number of upserts; operators and tests use
/// it to prove the sink never duplicates).
pub fn count_doc_id(reader: &IndexReader, doc_id: &str) -> Result<usize, SearchError> {
    let s = SearchSchema::new();
    Ok(reader.searcher().search(exact(s.doc_id, doc_id).as_ref(), &Count)?)
}

/// How many live documents `tenant` has (all kinds).
pub fn count_tenant(reader: &IndexReader, tenant: &str) -> Result<usize, SearchError> {
    let s = SearchSchema::new();
    Ok(reader.searcher().search(exact(s.tenant, tenant).as_ref(), &Count)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::schema::{register_tokenizers, CatalogDoc, Direction, MessageDoc};
    use rust_decimal::Decimal;
    use tantivy::{Index, IndexWriter};

    fn index() -> IndexReader {
        let s = SearchSchema::new();
        let index = Index::create_in_ram(s.schema.clone());
        register_tokenizers(&index);
        let mut w: IndexWriter = index.writer_with_num_threads(1, 15_000_000).expect("writer");
        for tenant in ["acme", "other"] {
            let c = CatalogDoc {
                tenant: tenant.into(),
                material: "Cotton".into(),
                color: "Laal".into(),
                dye_lots: vec![format!("LOT-{tenant}")],
                aliases: vec!["sooti".into()],
                price_per_meter: Some(Decimal::new(12050, 2)),
                available_meters: Decimal::new(40, 0),
                occurred_at: 1,
            };
            w.add_document(c.to_document(&s)).expect("add");
            let m =
                MessageDoc { tenant: tenant.into(), message_id: "w1".into(), direction: Direction::In, customer: "91".into(), text: "bhaiya LAAL kapda chahiye".into(), thread: None, occurred_at: 2 };
            w.add_document(m.to_document(&s)).expect("add");
        }
        w.commit().expect("commit");
        index.reader().expect("reader")
    }

    #[test]
    fn tenant_is_a_must_clause_and_case_does_not_matter() {
        let r = index();
        let hits = search(&r, "acme", "laal", None, 10).expect("search");
        assert_eq!(hits.len(), 2);
        assert!(hits.iter().all(|h| h.doc_id.contains("acme|")));
        assert_eq!(search(&r, "acme", "lot-other", None, 10).expect("search").len(), 0);
        assert_eq!(search(&r, "acme", "LOT-acme", Some(DocKind::Catalog), 10).expect("search")[0].price_per_meter.as_deref(), Some("120.50"));
        assert_eq!(search(&r, "acme", "kapda", Some(DocKind::Catalog), 10).expect("search").len(), 0);
        assert_eq!(search(&r, "acme", "", None, 10).expect("search").len(), 2, "empty query lists the tenant's documents");
        assert_eq!(search(&r, "nobody", "laal", None, 10).expect("search").len(), 0);
        assert!(matches!(search(&r, "acme", "nosuchfield:x", None, 10), Err(SearchError::BadQuery(_))));
        assert_eq!(count_doc_id(&r, "catalog:acme|Cotton|Laal").expect("count"), 1);
    }
}
