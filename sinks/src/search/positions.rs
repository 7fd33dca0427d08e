//! Where the search sink resumes: the next offset of every input partition, stored as the payload
//! of each tantivy commit, so the documents and the offsets they reflect become durable together
//! (one atomic `meta.json` write). Kafka's group offsets are informational only.

use anyhow::Context;
use std::collections::BTreeMap;
use std::path::Path;
use tantivy::Index;

/// (topic, partition).
pub type Tp = (String, i32);

/// Next offset to apply per partition.
pub type Positions = BTreeMap<Tp, i64>;

/// The commit payload: `{"<topic>/<partition>": next_offset, ...}`.
pub fn encode(positions: &Positions) -> String {
    let map: BTreeMap<String, i64> = positions.iter().map(|((t, p), o)| (format!("{t}/{p}"), *o)).collect();
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".into())
}

/// Parses a commit payload (topic names never contain `/`, so the last one splits).
pub fn decode(payload: &str) -> anyhow::Result<Positions> {
    let map: BTreeMap<String, i64> = serde_json::from_str(payload).context("search index commit payload is not JSON")?;
    map.into_iter()
        .map(|(k, o)| {
            let (t, p) = k.rsplit_once('/').with_context(|| format!("payload key {k:?} is not <topic>/<partition>"))?;
            Ok(((t.to_string(), p.parse::<i32>().with_context(|| format!("partition in {k:?}"))?), o))
        })
        .collect()
}

/// The positions stored by the last commit of `index` (empty for a new index).
pub fn load(index: &Index) -> anyhow::Result<Positions> {
    let metas = index.load_metas().context("reading the search index's meta.json")?;
    match metas.payload {
        Some(p) => decode(&p),
        None => Ok(Positions::new()),
    }
}

/// The positions stored in the index in `dir` (empty when there is no index yet); for operators
/// and tests ("has the sink caught up").
pub fn stored_positions(dir: &Path) -> anyhow::Result<Positions> {
    match souk_projections::search::schema::open_existing(dir)? {
        Some(index) => load(&index),
        None => Ok(Positions::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_prefixed_dotted_topics() {
        let mut p = Positions::new();
        p.insert(("t1x2.inventory.events".into(), 0), 17);
        p.insert(("t1x2.whatsapp.inbound".into(), 7), 3);
        assert_eq!(decode(&encode(&p)).expect("decode"), p);
        assert!(decode("{\"nopartition\": 1}").is_err());
    }
}
