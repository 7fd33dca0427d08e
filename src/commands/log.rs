//! `souk produce` and `souk consume`: JSON lines in and out of Avro topics, for people debugging the log.

use clap::Args;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::{json, Value as Json};
use souk_runtime::kafka::{headers, make_headers, producer, send_all, OutRecord};
use souk_runtime::stack;
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Duration;

/// `souk produce <topic>`.
#[derive(Args, Debug)]
pub struct ProduceArgs {
    /// Declared topic name (the topology prefix is applied).
    pub topic: String,
    /// Key for lines without a `KEY<TAB>` prefix.
    #[arg(long)]
    pub key: Option<String>,
}

/// `souk consume <topic>`.
#[derive(Args, Debug)]
pub struct ConsumeArgs {
    /// Declared topic name (the topology prefix is applied).
    pub topic: String,
    /// Start at the beginning (default: the end, i.e. only new records with --follow).
    #[arg(long)]
    pub from_beginning: bool,
    /// Keep waiting for new records instead of stopping at the end.
    #[arg(long)]
    pub follow: bool,
    /// Stop after this many records.
    #[arg(long)]
    pub max: Option<usize>,
}

/// Reads stdin line by line; every line is validated against the topic's schema before anything
/// is sent, and a bad line stops with its line number (nothing after it is produced).
pub async fn produce(path: &Path, args: ProduceArgs) -> anyhow::Result<()> {
    let (topology, catalog) = super::load(path)?;
    let codec = stack::codec_for(&topology, &catalog, &stack::schema_registry_url())?;
    let topic = topology.topic(&args.topic);
    let producer = producer(&stack::kafka_bootstrap())?;
    let mut records = Vec::new();
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let (key, text) = match line.split_once('\t') {
            Some((k, v)) => (Some(k.to_string()), v.to_string()),
            None => (args.key.clone(), line.clone()),
        };
        let value: Json = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("line {}: not JSON: {e}", n + 1))?;
        let payload = codec.encode_json(&topic, &value).await.map_err(|e| anyhow::anyhow!("line {}: {e}", n + 1))?;
        let event_id = find_event_id(&value).unwrap_or_default();
        records.push(OutRecord { topic: topic.clone(), partition: None, key, payload: Some(payload), headers: make_headers(&[(headers::EVENT_ID, &event_id)]) });
    }
    let count = records.len();
    send_all(&producer, records).await?;
    eprintln!("produced {count} record(s) to {topic}");
    Ok(())
}

fn find_event_id(value: &Json) -> Option<String> {
    let inner = value.as_object().filter(|o| o.len() == 1 && !o.contains_key("envelope")).and_then(|o| o.values().next()).unwrap_or(value);
    inner.get("envelope")?.get("event_id")?.as_str().map(str::to_string)
}

/// Prints `{"partition","offset","key","headers","value"}` per record; undecodable values are
/// printed with an `error` instead of a value, never skipped.
pub async fn consume(path: &Path, args: ConsumeArgs) -> anyhow::Result<()> {
    let (topology, catalog) = super::load(path)?;
    let codec = stack::codec_for(&topology, &catalog, &stack::schema_registry_url())?;
    let topic = if topology.topics.contains_key(&args.topic) { topology.topic(&args.topic) } else { args.topic.clone() };
    // read_committed: records of open or aborted transactions are never shown
    let consumer: StreamConsumer = souk_runtime::kafka::committed_reader(&stack::kafka_bootstrap(), "souk-consume-cli").create()?;
    let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
    let partitions: Vec<i32> = metadata.topics().iter().flat_map(|t| t.partitions().iter().map(|p| p.id())).collect();
    if partitions.is_empty() {
        anyhow::bail!("topic {topic} does not exist (run `souk topology apply`)");
    }
    let mut tpl = TopicPartitionList::new();
    // partitions not yet read to their end (a transactional topic ends in commit markers, so the
    // end is the reader's end-of-partition event, not the high watermark)
    let mut open = std::collections::BTreeSet::new();
    for p in &partitions {
        let (low, high) = consumer.fetch_watermarks(&topic, *p, Duration::from_secs(10))?;
        let start = if args.from_beginning { low } else { high };
        if high > start {
            open.insert(*p);
        }
        tpl.add_partition_offset(&topic, *p, Offset::Offset(start))?;
    }
    consumer.assign(&tpl)?;
    let mut printed = 0usize;
    let stdout = std::io::stdout();
    loop {
        if args.max.is_some_and(|m| printed >= m) || (!args.follow && open.is_empty()) {
            break;
        }
        let msg = match tokio::time::timeout(Duration::from_secs(if args.follow { 3600 } else { 10 }), consumer.recv()).await {
            Ok(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                open.remove(&p);
                continue;
            }
            Ok(m) => m?,
            Err(_) if args.follow => continue,
            Err(_) => anyhow::bail!("timed out before the end of partitions {open:?}"),
        };
        let mut line = json!({
            "partition": msg.partition(),
            "offset": msg.offset(),
            "key": msg.key().map(|k| String::from_utf8_lossy(k).into_owned()),
        });
        if let Some(h) = rdkafka::message::Message::headers(&msg) {
            use rdkafka::message::Headers;
            line["headers"] = Json::Object(h.iter().map(|h| (h.key.to_string(), Json::String(h.value.map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default()))).collect());
        }
        match msg.payload() {
            None => line["value"] = Json::Null,
            Some(bytes) => match codec.decode_json(bytes).await {
                Ok(v) => line["value"] = v,
                Err(e) => {
                    line["error"] = Json::String(e.to_string());
                    line["raw_len"] = json!(bytes.len());
                }
            },
        }
        writeln!(stdout.lock(), "{line}")?;
        printed += 1;
    }
    Ok(())
}
