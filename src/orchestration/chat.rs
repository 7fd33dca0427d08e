//! The `chat-intent` stage (rules BU2): every `ChatMessageReceived` on `chat.inbound` becomes one
//! `ChatIntentResolved` on `negotiation.inputs`, read by the offline parser [`parse`]
//! (`chat-offline-1`): a change of an item ("I want pink flowers instead of red", "replace red
//! with pink", "change red to pink"), an approval ("Yes, proceed") or a rejection ("No"), else
//! unknown. The negotiation processor decides what it means for the bundle.

use serde::{Deserialize, Serialize};
use souk_runtime::stage::{Stage, StageError, StageOutput};
use souk_schemas::bundles::{ChatEvent, ChatIntentResolved};
use souk_schemas::key::BundleKey;

/// The stage's name in topology.toml.
pub const NAME: &str = "chat-intent";
/// The parser's name and version, logged with every result.
pub const PARSER: &str = "chat-offline-1";

/// What the stage writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChatOutput {
    /// → `intents` (`negotiation.inputs`).
    ChatIntentResolved(ChatIntentResolved),
}

souk_schemas::stream_event!(ChatOutput { ChatIntentResolved });

/// What a message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatIntent {
    /// Change an item: what instead of what (the original may be only a word of the leg's item).
    ChangeItem { requested: String, original: Option<String> },
    /// Yes to what is proposed.
    Approve,
    /// No to what is proposed.
    Reject,
    /// Nothing the parser knows.
    Unknown,
}

const YES: [&str; 12] = ["yes", "yep", "yeah", "proceed", "approve", "approved", "ok", "okay", "sure", "accept", "confirm", "go ahead"];
const NO: [&str; 8] = ["no", "nope", "reject", "decline", "cancel", "don't", "do not", "stop"];
const WANT: [&str; 8] = ["i want", "i'd like", "i would like", "can i have", "could i have", "give me", "please", "i need"];

/// Reads one message (pure; the same text always gives the same intent).
pub fn parse(text: &str) -> ChatIntent {
    let lower = text.to_lowercase();
    let clean = lower.trim().trim_end_matches(['.', '!', '?']).trim();
    if let Some((new, old)) = clean.split_once(" instead of ") {
        return change(strip_prefixes(new, &WANT), old);
    }
    for (verb, middle) in [("replace ", " with "), ("swap ", " for "), ("change ", " to ")] {
        if let Some((old, new)) = clean.strip_prefix(verb).and_then(|rest| rest.split_once(middle)) {
            return change(new, old);
        }
    }
    let words: Vec<&str> = clean.split(|c: char| !(c.is_alphanumeric() || c == '\'')).filter(|w| !w.is_empty()).collect();
    let has = |phrases: &[&str]| phrases.iter().any(|p| if p.contains(' ') { clean.contains(p) } else { words.contains(p) });
    match (has(&YES), has(&NO)) {
        (true, false) => ChatIntent::Approve,
        (false, true) => ChatIntent::Reject,
        _ => ChatIntent::Unknown,
    }
}

fn strip_prefixes<'t>(text: &'t str, prefixes: &[&str]) -> &'t str {
    let t = text.trim();
    prefixes.iter().find_map(|p| t.strip_prefix(p)).unwrap_or(t).trim()
}

/// "pink" instead of "red flowers" asks for "pink flowers": a one-word request borrows the rest
/// of the original.
fn change(new: &str, old: &str) -> ChatIntent {
    let article = |s: &str| {
        let s = s.trim().trim_end_matches(" please").trim_end_matches([',', '.', '!', '?', ' ']);
        strip_prefixes(s, &["the ", "my ", "a ", "an ", "some "]).to_string()
    };
    let (new, old) = (article(new), article(old));
    if new.is_empty() {
        return ChatIntent::Unknown;
    }
    let old_words: Vec<&str> = old.split_whitespace().collect();
    let requested = if !new.contains(' ') && old_words.len() > 1 { format!("{new} {}", old_words[1..].join(" ")) } else { new };
    ChatIntent::ChangeItem { requested, original: Some(old).filter(|o| !o.is_empty()) }
}

/// The stage: stateless, one instance serves every bundle.
#[derive(Debug, Default)]
pub struct ChatIntentStage;

impl Stage for ChatIntentStage {
    type Input = ChatEvent;
    type Output = ChatOutput;

    fn name(&self) -> &'static str {
        NAME
    }

    async fn resolve(&self, key: &str, input: &ChatEvent) -> Result<Vec<StageOutput<ChatOutput>>, StageError> {
        let ChatEvent::ChatMessageReceived(m) = input;
        if key != BundleKey::of(&m.envelope.tenant_id, &m.bundle_id) {
            return Err(StageError::Permanent(format!("key {key:?} is not <tenant>|<bundle> of the message")));
        }
        let (intent, requested_item, original_item) = match parse(&m.text) {
            ChatIntent::ChangeItem { requested, original } => ("change_item", Some(requested), original),
            ChatIntent::Approve => ("approve", None, None),
            ChatIntent::Reject => ("reject", None, None),
            ChatIntent::Unknown => ("unknown", None, None),
        };
        let resolved = ChatIntentResolved {
            envelope: m.envelope.derive(NAME, 0, m.envelope.occurred_at),
            bundle_id: m.bundle_id.clone(),
            user_id: m.user_id.clone(),
            text: m.text.clone(),
            intent: intent.to_string(),
            requested_item,
            original_item,
            parser: PARSER.to_string(),
        };
        Ok(vec![StageOutput { output: "intents", key: key.to_string(), event: ChatOutput::ChatIntentResolved(resolved) }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn change(requested: &str, original: &str) -> ChatIntent {
        ChatIntent::ChangeItem { requested: requested.into(), original: Some(original.into()) }
    }

    /// The live demo's messages and their neighbours.
    #[rstest]
    #[case::demo_change("I want pink flowers instead of red", change("pink flowers", "red"))]
    #[case::borrowed_noun("Pink instead of the red flowers, please.", change("pink flowers", "red flowers"))]
    #[case::replace("Replace the red flowers with white lilies", change("white lilies", "red flowers"))]
    #[case::change_to("change red to pink", change("pink", "red"))]
    #[case::demo_approval("Yes, proceed", ChatIntent::Approve)]
    #[case::go_ahead("OK go ahead!", ChatIntent::Approve)]
    #[case::no("No, keep it as it was", ChatIntent::Reject)]
    #[case::dont("don't", ChatIntent::Reject)]
    #[case::both("yes no", ChatIntent::Unknown)]
    #[case::nothing("what time is it", ChatIntent::Unknown)]
    #[case::empty_request("instead of red", ChatIntent::Unknown)]
    #[case::no_inside_words("nothing noted", ChatIntent::Unknown)]
    fn messages_are_read_offline(#[case] text: &str, #[case] expected: ChatIntent) {
        assert_eq!(parse(text), expected);
    }
}
