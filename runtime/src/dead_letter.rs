//! Dead-letter records with provenance headers (`souk-source-topic/-partition/-offset`,
//! `souk-error`, `souk-component`), shared by every component that refuses records (processor
//! engine, stages, Postgres and search sinks, the WhatsApp dispatcher), so every DLQ in souk reads
//! the same way.

use crate::kafka::{headers, make_headers, OutRecord};
use rdkafka::message::{Message, OwnedMessage};

/// Where a dead-lettered record came from and why it was refused.
#[derive(Debug, Clone)]
pub struct Provenance<'a> {
    /// Source topic.
    pub topic: &'a str,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
    /// Why.
    pub error: &'a str,
    /// The component that refused it (the sink's name).
    pub component: &'a str,
}

/// The record to produce to `dlq_topic`: the original key and value bytes, provenance headers.
pub fn dead_letter(dlq_topic: &str, p: &Provenance<'_>, key: Option<&[u8]>, payload: Option<&[u8]>) -> OutRecord {
    tracing::warn!(component = p.component, topic = p.topic, partition = p.partition, offset = p.offset, error = p.error, "record dead-lettered");
    OutRecord {
        topic: dlq_topic.to_string(),
        partition: None,
        key: key.map(|k| String::from_utf8_lossy(k).into_owned()),
        payload: Some(payload.map(<[u8]>::to_vec).unwrap_or_default()),
        headers: make_headers(&[
            (headers::SOURCE_TOPIC, p.topic),
            (headers::SOURCE_PARTITION, &p.partition.to_string()),
            (headers::SOURCE_OFFSET, &p.offset.to_string()),
            (headers::ERROR, p.error),
            (headers::COMPONENT, p.component),
        ]),
    }
}

/// The dead letter of a consumed record: its own key and value, provenance from the message.
pub fn dead_letter_of(dlq_topic: &str, msg: &OwnedMessage, error: &str, component: &str) -> OutRecord {
    let provenance = Provenance { topic: msg.topic(), partition: msg.partition(), offset: msg.offset(), error, component };
    dead_letter(dlq_topic, &provenance, msg.key(), msg.payload())
}
