//! GDPR erase by crypto-shredding, on the real stack (source 002 table (f) example 20; rules
//! PR1–PR3): the export lists what souk holds about a customer; erasing them tombstones their data
//! keys and deletes their rows, and afterwards no Postgres row and no line of souk's log holds their
//! words or id, the log's sealed records no longer open, and a full replay of the inbox's topics
//! into a fresh database (and of the search index into a fresh directory) writes nothing about
//! them — while another customer is untouched. The index is checked on disk, deleted documents
//! included: a tantivy delete only marks a document, so the erase rewrites the segments.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use souk_runtime::privacy::{KeyRing, MasterKey, PrivacyError};
use souk_runtime::topology::SourceTopic;
use souk_schemas::social::SocialInput;
use sqlx::PgPool;
use std::time::Duration;
use support::textile::Textile;

const WORDS: &str = "My name is Zanele Mokoena, call me on 0821234567";
const ID: &str = "ig-zanele-7";

async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Rows of every table of `db` whose text holds `needle` (and the tenant's id: other tests'
/// tenants share the database), as `table: row`.
async fn rows_holding(db: &PgPool, tenant: &str, needle: &str) -> Vec<String> {
    let tables: Vec<(String,)> = sqlx::query_as("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'").fetch_all(db).await.unwrap();
    let mut found = Vec::new();
    for (table,) in tables {
        let rows: Vec<(String,)> =
            sqlx::query_as(&format!("SELECT t::text FROM {table} t WHERE strpos(t::text, $1) > 0 AND strpos(t::text, $2) > 0")).bind(needle).bind(tenant).fetch_all(db).await.unwrap();
        found.extend(rows.into_iter().map(|(r,)| format!("{table}: {r}")));
    }
    found
}

/// The tenant's message hits of `GET /v1/search` for `q`.
async fn search_hits(t: &Textile, q: &str) -> Vec<serde_json::Value> {
    t.client.get(&format!("/v1/search?kind=message&q={q}")).await.ok().and_then(|r| r["hits"].as_array().cloned()).unwrap_or_default()
}

/// Every document stored in the index in `dir`, deleted ones included (what is still on disk), as
/// JSON.
fn stored_documents(dir: &std::path::Path) -> Vec<String> {
    let index = tantivy::Index::open_in_dir(dir).unwrap();
    let schema = index.schema();
    let searcher = index.reader().unwrap().searcher();
    let mut docs = Vec::new();
    for segment in searcher.segment_readers() {
        let store = segment.get_store_reader(1).unwrap();
        for doc in store.iter::<tantivy::TantivyDocument>(None) {
            docs.push(tantivy::Document::to_json(&doc.unwrap(), &schema));
        }
    }
    docs
}

async fn deliver(t: &Textile, sender: &str, mid: &str, text: &str) {
    let page = &t.client.tenant.instagram_page_id;
    let body = serde_json::to_vec(&json!({"object": "instagram", "entry": [{"id": page, "messaging": [
        {"sender": {"id": sender}, "recipient": {"id": page}, "timestamp": chrono::Utc::now().timestamp_millis(), "message": {"mid": mid, "text": text}}]}]}))
    .unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/webhooks/instagram", t.client.base()))
        .header("x-hub-signature-256", souk_producers::gateway::sign(&t.client.tenant.instagram_app_secret, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erase_leaves_nothing_in_rows_logs_or_a_replay() {
    let mut t = Textile::start_unseeded("inbox-erase").await;
    let db = PgPool::connect(&std::env::var("SOUK_DATABASE_URL").unwrap()).await.unwrap();
    deliver(&t, ID, "mid.zanele.1", WORDS).await;
    deliver(&t, "ig-keeper-1", "mid.keeper.1", "Do you ship to Durban?").await;
    let inbox = eventually("both conversations projected", async || {
        let rows = t.client.get("/v1/conversations").await.ok()?["conversations"].as_array()?.clone();
        (rows.len() == 2).then_some(rows)
    })
    .await;
    let zanele = inbox.iter().find(|c| c["customer_id"] == ID).unwrap()["conversation_id"].as_str().unwrap().to_string();

    // Rules PR3: the export lists what souk holds about her.
    let export = t.client.get(&format!("/v1/conversations/{zanele}/export")).await.unwrap();
    assert_eq!(export["conversation"]["messages"][0]["content"], WORDS);
    assert_eq!(export["conversation"]["customer_id"], ID);
    assert!(!rows_holding(&db, &t.client.tenant.id, "Zanele").await.is_empty(), "before the erase her words are in the read model");
    eventually("her words in the search index", async || (!search_hits(&t, "Zanele").await.is_empty()).then_some(())).await;

    let (status, answer) = t.client.owner(reqwest::Method::POST, &format!("/v1/conversations/{zanele}/erase"), Some(json!({"reason": "customer asked to be forgotten"}))).await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["keys_shredded"], 1);
    eventually("her conversation gone", async || t.client.get(&format!("/v1/conversations/{zanele}")).await.is_err().then_some(())).await;

    // No row anywhere, no log line.
    for needle in ["Zanele", "0821234567", ID] {
        assert_eq!(rows_holding(&db, &t.client.tenant.id, needle).await, Vec::<String>::new(), "a row still holds {needle:?}");
    }
    assert!(t.client.get("/v1/conversations").await.unwrap()["conversations"].as_array().unwrap().iter().any(|c| c["customer_id"] == "ig-keeper-1"), "the other customer stays");
    assert!(t.client.get(&format!("/v1/conversations/{zanele}/export")).await.is_err(), "nothing left to export");
    // No index document: none found, and (below, with souk stopped) none stored, even deleted.
    for needle in ["Zanele", "0821234567"] {
        eventually("her documents gone from the search index", async || search_hits(&t, needle).await.is_empty().then_some(())).await;
    }
    eventually("his document still found", async || (!search_hits(&t, "Durban").await.is_empty()).then_some(())).await;
    let logs = t.logs();
    for needle in ["Zanele", "0821234567", ID] {
        assert!(!logs.contains(needle), "the log holds {needle:?}");
    }

    // The log still has her sealed message, and nothing opens it any more.
    let keys = SourceTopic { topic: t.pipeline.topology.topic("privacy.keys"), partitions: t.pipeline.topology.partitions("privacy.keys"), declared: "privacy.keys".into() };
    let ring = KeyRing::load(&t.pipeline.bootstrap, t.pipeline.codec.clone(), &keys, MasterKey::from_env().unwrap(), Duration::from_secs(30)).await.unwrap();
    let mut sealed = Vec::new();
    for r in t.pipeline.read("social.inputs").await {
        if let Ok(SocialInput::CustomerMessageReceived(m)) = t.pipeline.codec.decode::<SocialInput>(&r.payload.unwrap_or_default()).await {
            sealed.push((m.text.clone(), ring.open(&m.envelope.tenant_id, &m.text)));
        }
    }
    assert_eq!(sealed.len(), 2);
    assert!(sealed.iter().any(|(_, opened)| matches!(opened, Err(PrivacyError::Shredded(_)))), "her message no longer opens");
    assert!(sealed.iter().any(|(_, opened)| opened.as_deref() == Ok("Do you ship to Durban?")), "his still does");
    for (bytes, _) in &sealed {
        assert!(!bytes.contains("Zanele"));
    }

    // A full replay of the inbox's topics into a fresh database writes nothing about her.
    t.kill9();
    let stored = stored_documents(&t.index_dir());
    assert!(stored.iter().any(|d| d.contains("Durban")), "the index holds his message");
    for needle in ["Zanele", "0821234567"] {
        assert!(!stored.iter().any(|d| d.contains(needle)), "a stored index document (live or deleted) holds {needle:?}");
    }
    let replay_db = format!("souk_replay_{}", std::process::id());
    sqlx::query(&format!("CREATE DATABASE {replay_db}")).execute(&db).await.unwrap();
    let base = std::env::var("SOUK_DATABASE_URL").unwrap();
    let replay_url = format!("{}/{replay_db}", base.rsplit_once('/').unwrap().0);
    let _replay = t.pipeline.spawn_with("social-postgres", "replay", "replay", &[("SOUK_DATABASE_URL", &replay_url)]);
    let replayed = PgPool::connect(&replay_url).await.unwrap();
    // Replayed to the end: past the last record of every partition of both input topics.
    let mut ends = std::collections::BTreeMap::new();
    for topic in ["social.events", "notifications.events"] {
        for r in t.pipeline.read(topic).await {
            let end = ends.entry((t.pipeline.topology.topic(topic), r.partition)).or_insert(0i64);
            *end = (*end).max(r.offset + 1);
        }
    }
    eventually("the replay at the end of the log", async || {
        let stored: Vec<(String, i32, i64)> = sqlx::query_as("SELECT topic, partition, next_offset FROM sink_offsets WHERE sink = 'social-postgres'").fetch_all(&replayed).await.ok()?;
        ends.iter().all(|((topic, partition), end)| stored.iter().any(|(t, p, next)| t == topic && p == partition && next >= end)).then_some(())
    })
    .await;
    let kept: (i64,) = sqlx::query_as("SELECT count(*) FROM social_messages WHERE content = 'Do you ship to Durban?'").fetch_one(&replayed).await.unwrap();
    assert_eq!(kept.0, 1, "the replay rebuilt the other customer");
    for needle in ["Zanele", "0821234567", ID] {
        assert_eq!(rows_holding(&replayed, &t.client.tenant.id, needle).await, Vec::<String>::new(), "the replay wrote {needle:?}");
    }
    replayed.close().await;
    drop(_replay);

    // And a replay of the index from the log into a fresh directory stores nothing about her.
    let replay_index = t.index_dir().with_file_name("replay-index");
    let _index = t.pipeline.spawn_with("search-index", "replay-index", "replay-index", &[("SOUK_INDEX_DIR", replay_index.to_str().unwrap())]);
    let social_events = t.pipeline.topology.topic("social.events");
    eventually("the index replay at the end of social.events", async || {
        let stored = souk_sinks::search::stored_positions(&replay_index).ok()?;
        ends.iter().filter(|((topic, _), _)| *topic == social_events).all(|(tp, end)| stored.get(tp).is_some_and(|next| next >= end)).then_some(())
    })
    .await;
    drop(_index);
    let stored = stored_documents(&replay_index);
    assert!(stored.iter().any(|d| d.contains("Durban")), "the replayed index holds his message");
    for needle in ["Zanele", "0821234567"] {
        assert!(!stored.iter().any(|d| d.contains(needle)), "the replayed index holds {needle:?}");
    }
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {replay_db} WITH (FORCE)")).execute(&db).await;
}
