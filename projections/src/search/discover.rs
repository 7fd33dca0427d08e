//! Discovery (seed-000 module 1, docs/rules/discovery.md): free text over a tenant's active products
//! with the scout's filters (exclude a vendor, a price range, required capabilities), ranked by the
//! tenant's weights at query time (`ranking.rs`), everything read from the search index — products,
//! their partners, promotions and the weights are documents there.

use super::marketplace::{payload_of, PartnerDoc, ProductDoc, PromotionDoc, RankingDoc, Weights, PRICE_E4};
use super::query::SearchError;
use super::ranking::{rank, Candidate, Signals};
use super::schema::{DocKind, SearchSchema};
use rust_decimal::Decimal;
use souk_processors::geo::{distance_km, Location};
use souk_processors::time_chain::travel_minutes;
use std::collections::BTreeSet;
use std::ops::Bound;
use tantivy::collector::TopDocs;
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{IndexReader, Searcher, TantivyDocument, Term};

/// How many text matches ranking considers before it orders them (the page is cut after).
pub const CANDIDATES: usize = 1_000;

/// What a discovery asks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiscoverQuery {
    /// Free text ("pink flowers"); empty = every product.
    pub q: String,
    /// Where the user is: distance and travel time per result, and the tie-break.
    pub location: Option<Location>,
    /// A partner whose products are left out (re-sourcing's "not the same vendor").
    pub exclude_vendor: Option<String>,
    /// Lowest price, inclusive.
    pub min_price: Option<Decimal>,
    /// Highest price, inclusive.
    pub max_price: Option<Decimal>,
    /// Capabilities every result has (lowercased tags).
    pub capabilities: Vec<String>,
    /// Page size.
    pub limit: usize,
}

/// One result: the product, its partner, the signals that placed it and, with a location, how far.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovered {
    /// The product.
    pub product: ProductDoc,
    /// Its partner.
    pub partner: PartnerDoc,
    /// Its ranking.
    pub signals: Signals,
    /// Kilometres from the asked location.
    pub distance_km: Option<f64>,
    /// The partner's preparation plus the ride to the asked location (time chain TC1).
    pub arrival_minutes: Option<i64>,
}

/// The tenant's ranking weights: as last set, or the defaults.
pub fn weights(reader: &IndexReader, tenant: &str) -> Result<(Weights, Option<i64>), SearchError> {
    let s = SearchSchema::new();
    let searcher = reader.searcher();
    let docs = by_doc_ids(&searcher, &s, tenant, [RankingDoc::doc_id_of(tenant)].into_iter())?;
    Ok(docs.first().and_then(|d| payload_of::<RankingDoc>(&s, d)).map(|r| (r.weights, Some(r.occurred_at))).unwrap_or((Weights::default(), None)))
}

/// Discovers `tenant`'s products for `query` as of `now` (epoch ms, for promotion windows).
pub fn discover(reader: &IndexReader, tenant: &str, query: &DiscoverQuery, now: i64) -> Result<(Vec<Discovered>, Weights), SearchError> {
    let s = SearchSchema::new();
    let searcher = reader.searcher();
    let text: Box<dyn Query> = if query.q.trim().is_empty() {
        Box::new(AllQuery)
    } else {
        // Natural language from a chat: whatever does not parse as query syntax is read as words.
        QueryParser::for_index(searcher.index(), vec![s.name, s.text, s.tags]).parse_query_lenient(&query.q).0
    };
    let mut clauses = vec![(Occur::Must, exact(s.tenant, tenant)), (Occur::Must, exact(s.kind, DocKind::Product.as_str())), (Occur::Must, text)];
    if let Some(vendor) = &query.exclude_vendor {
        clauses.push((Occur::MustNot, exact(s.partner_id, vendor)));
    }
    for c in &query.capabilities {
        clauses.push((Occur::Must, exact(s.capability, &c.to_lowercase())));
    }
    if query.min_price.is_some() || query.max_price.is_some() {
        // A price too large for the index's scale (Decimal or i64 overflow) bounds nothing below it.
        let e4 = |p: Decimal, round: fn(&Decimal) -> Decimal| p.checked_mul(Decimal::from(PRICE_E4)).and_then(|v| i64::try_from(round(&v)).ok()).unwrap_or(i64::MAX);
        let lower = query.min_price.map(|p| Bound::Included(Term::from_field_i64(s.price_e4, e4(p, Decimal::ceil)))).unwrap_or(Bound::Unbounded);
        let upper = query.max_price.map(|p| Bound::Included(Term::from_field_i64(s.price_e4, e4(p, Decimal::floor)))).unwrap_or(Bound::Unbounded);
        clauses.push((Occur::Must, Box::new(RangeQuery::new(lower, upper))));
    }
    let top = searcher.search(&BooleanQuery::new(clauses), &TopDocs::with_limit(CANDIDATES))?;
    let mut products = Vec::with_capacity(top.len());
    for (score, address) in top {
        let doc: TantivyDocument = searcher.doc(address)?;
        if let Some(p) = payload_of::<ProductDoc>(&s, &doc).filter(|p| p.inventory_count != 0) {
            products.push((p, score));
        }
    }
    let partner_ids: BTreeSet<&str> = products.iter().map(|(p, _)| p.partner_id.as_str()).collect();
    let wanted = partner_ids.iter().flat_map(|id| [PartnerDoc::doc_id_of(tenant, id), PromotionDoc::doc_id_of(tenant, id)]).chain([RankingDoc::doc_id_of(tenant)]);
    let (mut partners, mut promotions, mut weights) = (Vec::new(), Vec::new(), Weights::default());
    for doc in by_doc_ids(&searcher, &s, tenant, wanted)? {
        match doc_kind(&s, &doc) {
            Some(DocKind::Partner) => partners.extend(payload_of::<PartnerDoc>(&s, &doc)),
            Some(DocKind::Promotion) => promotions.extend(payload_of::<PromotionDoc>(&s, &doc)),
            Some(DocKind::Ranking) => weights = payload_of::<RankingDoc>(&s, &doc).map(|r| r.weights).unwrap_or_default(),
            _ => {}
        }
    }
    let candidates = products
        .into_iter()
        .filter_map(|(product, text_score)| {
            // A product whose partner is removed (or not yet indexed) is found by nobody.
            let partner = partners.iter().find(|p| p.partner_id == product.partner_id)?.clone();
            let distance_km = query.location.map(|at| distance_km(at, Location { lat: partner.lat, lng: partner.lng }));
            let promotions = promotions.iter().filter(|p| p.partner_id == partner.partner_id).cloned().collect();
            Some(Candidate { product, partner, text_score, promotions, distance_km })
        })
        .collect();
    let page = rank(candidates, &weights, now)
        .into_iter()
        .take(query.limit)
        .map(|(c, signals)| {
            let arrival_minutes = query.location.map(|at| c.partner.preparation_minutes + travel_minutes(Location { lat: c.partner.lat, lng: c.partner.lng }, at));
            Discovered { product: c.product, partner: c.partner, signals, distance_km: c.distance_km, arrival_minutes }
        })
        .collect();
    Ok((page, weights))
}

fn exact(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic))
}

fn doc_kind(s: &SearchSchema, doc: &TantivyDocument) -> Option<DocKind> {
    use tantivy::schema::Value;
    doc.get_first(s.kind).and_then(|v| v.as_str()).and_then(DocKind::parse)
}

/// The tenant's documents with these ids (at most one each: the sink upserts by id).
fn by_doc_ids(searcher: &Searcher, s: &SearchSchema, tenant: &str, ids: impl Iterator<Item = String>) -> Result<Vec<TantivyDocument>, SearchError> {
    let any: Vec<(Occur, Box<dyn Query>)> = ids.map(|id| (Occur::Should, exact(s.doc_id, &id))).collect();
    if any.is_empty() {
        return Ok(Vec::new());
    }
    let n = any.len();
    let query = BooleanQuery::new(vec![(Occur::Must, exact(s.tenant, tenant)), (Occur::Must, Box::new(BooleanQuery::new(any)))]);
    let top = searcher.search(&query, &TopDocs::with_limit(n))?;
    top.into_iter().map(|(_, address)| searcher.doc(address).map_err(SearchError::from)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::schema::register_tokenizers;
    use tantivy::{Index, IndexWriter};

    fn partner(tenant: &str, id: &str, trust: u32, lat: f64) -> PartnerDoc {
        PartnerDoc {
            tenant: tenant.into(),
            partner_id: id.into(),
            name: format!("Partner {id}"),
            business_type: "florist".into(),
            lat,
            lng: 0.0,
            capabilities: vec!["florist".into()],
            trust_score: trust,
            white_glove: trust >= 70,
            preparation_minutes: 10,
            occurred_at: 1,
        }
    }

    fn product(tenant: &str, id: &str, partner: &str, name: &str, price: &str, inventory: i64, capabilities: &[&str]) -> ProductDoc {
        ProductDoc {
            tenant: tenant.into(),
            product_id: id.into(),
            partner_id: partner.into(),
            name: name.into(),
            description: "fresh every morning".into(),
            price: price.parse().unwrap(),
            currency: "USD".into(),
            capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
            inventory_count: inventory,
            margin_percent: None,
            occurred_at: 1,
        }
    }

    /// seed-000 §6.1's florists and a few more products around them.
    fn index() -> IndexReader {
        let s = SearchSchema::new();
        let index = Index::create_in_ram(s.schema.clone());
        register_tokenizers(&index);
        let mut w: IndexWriter = index.writer_with_num_threads(1, 15_000_000).expect("writer");
        for p in [partner("acme", "pa", 45, 0.0), partner("acme", "pb", 100, 0.05), partner("acme", "pc", 20, 0.1), partner("other", "pa", 45, 0.0)] {
            w.add_document(p.to_document(&s)).expect("add");
        }
        for p in [
            product("acme", "red", "pa", "Red Flowers", "50.00", -1, &["florist"]),
            product("acme", "pink-b", "pb", "Pink Flowers", "55.00", 10, &["florist"]),
            product("acme", "pink-c", "pc", "Pink Flowers deluxe", "61.00", 10, &["florist"]),
            product("acme", "pink-cheap", "pc", "Pink Flowers small", "40.00", 10, &["florist", "same_day"]),
            product("acme", "pink-gone", "pb", "Pink Flowers", "50.00", 0, &["florist"]),
            product("acme", "pink-orphan", "nobody", "Pink Flowers", "50.00", 5, &["florist"]),
            product("acme", "cake", "pc", "Chocolate cake", "60.00", 5, &["bakery"]),
            product("other", "pink-x", "pa", "Pink Flowers", "50.00", 5, &["florist"]),
        ] {
            w.add_document(p.to_document(&s)).expect("add");
        }
        w.commit().expect("commit");
        index.reader().expect("reader")
    }

    fn ids(reader: &IndexReader, query: DiscoverQuery) -> Vec<String> {
        discover(reader, "acme", &DiscoverQuery { limit: 10, ..query }, 0).expect("discover").0.into_iter().map(|d| d.product.product_id).collect()
    }

    fn q(text: &str) -> DiscoverQuery {
        DiscoverQuery { q: text.into(), ..DiscoverQuery::default() }
    }

    #[test]
    fn the_scouts_filters_hold_and_nothing_leaks() {
        let r = index();
        let mut all = ids(&r, q("pink flowers"));
        all.sort();
        // not the out-of-stock one, not the one whose partner is unknown, not another tenant's
        assert_eq!(all, ["pink-b", "pink-c", "pink-cheap", "red"]);
        let window = DiscoverQuery { exclude_vendor: Some("pa".into()), min_price: Some("40.00".parse().unwrap()), max_price: Some("60.00".parse().unwrap()), ..q("pink flowers") };
        let mut inside = ids(&r, window);
        inside.sort();
        assert_eq!(inside, ["pink-b", "pink-cheap"], "40.00 and 60.00 are inside, 61.00 is not, pa is excluded");
        assert_eq!(ids(&r, DiscoverQuery { capabilities: vec!["SAME_DAY".into()], ..q("pink") }), ["pink-cheap"]);
        assert_eq!(ids(&r, q("chocolate")), ["cake"]);
        assert_eq!(ids(&r, DiscoverQuery { max_price: Some("39.99".parse().unwrap()), ..q("") }), Vec::<String>::new());
        // A price beyond the index's scale (schemathesis found one) bounds nothing instead of overflowing.
        let huge: Decimal = "30427327300763920347002910526".parse().unwrap();
        assert!(!ids(&r, DiscoverQuery { max_price: Some(huge), ..q("") }).is_empty());
        assert!(ids(&r, DiscoverQuery { min_price: Some(huge), ..q("") }).is_empty());
    }

    #[test]
    fn ranking_weights_apply_and_the_location_gives_distance_and_arrival() {
        let r = index();
        let found = discover(&r, "acme", &DiscoverQuery { location: Some(Location { lat: 0.0, lng: 0.0 }), limit: 10, ..q("pink") }, 0).expect("discover").0;
        // pb is White Glove with trust 100: boost 0.6 and quality 1 put it first
        assert_eq!(found[0].product.product_id, "pink-b");
        assert!(found[0].distance_km.expect("distance") > 5.0);
        assert!(found[0].arrival_minutes.expect("arrival") > 10, "preparation plus the ride");
        let s = SearchSchema::new();
        let index = r.searcher().index().clone();
        let mut w: IndexWriter = index.writer_with_num_threads(1, 15_000_000).expect("writer");
        let relevance_only = Weights { relevance: Decimal::ONE, boost: Decimal::ZERO, quality: Decimal::ZERO, margin: Decimal::ZERO };
        w.add_document(RankingDoc { tenant: "acme".into(), weights: relevance_only, occurred_at: 2 }.to_document(&s)).expect("add");
        w.commit().expect("commit");
        r.reload().expect("reload");
        let (found, weights) = discover(&r, "acme", &DiscoverQuery { limit: 10, ..q("pink") }, 0).expect("discover");
        assert_eq!(weights, relevance_only);
        assert!(found.windows(2).all(|p| p[0].signals.relevance >= p[1].signals.relevance), "ordered by relevance alone");
        assert_eq!(super::weights(&r, "acme").expect("weights"), (relevance_only, Some(2)));
        assert_eq!(super::weights(&r, "other").expect("weights"), (Weights::default(), None));
    }
}
