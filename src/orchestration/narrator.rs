//! The `narrator` stage (rules SI7; seed-000 module 14): every narrative entry of a standing
//! intent's progress ledger becomes one `Narrated` for the user's thread — the text rendered from
//! the entry's logged facts by the offline templates (`narrator-offline-1`), or by the configured
//! model with the templates' text as its draft, plus the Progress Ledger card (Adaptive Card 1.5:
//! narrative, Agent Reasoning, Active Monitoring IF/THEN, thought, Context). Logged, so a replay
//! never renders again. Other ledger entries and snapshots pass by.

use crate::model::{ModelClient, ModelError, Tool};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use souk_runtime::stage::{Stage, StageError, StageOutput};
use souk_schemas::intents::{IntentEvent, Narrated, ProgressLogged};
use souk_schemas::key::IntentKey;

/// The stage's name in topology.toml.
pub const NAME: &str = "narrator";
/// The offline templates' name and version, logged with every text they render.
pub const OFFLINE: &str = "narrator-offline-1";
/// Longest narrative a model may write.
pub const MAX_NARRATIVE: usize = 600;

/// What the stage writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NarratorOutput {
    /// → `narrations`.
    Narrated(Narrated),
}

souk_schemas::stream_event!(NarratorOutput { Narrated });

/// Renders narrative entries; with a model when one is configured.
pub struct NarratorStage {
    model: Option<ModelClient>,
}

impl NarratorStage {
    /// Offline templates only.
    pub fn offline() -> NarratorStage {
        NarratorStage { model: None }
    }

    /// The model writes, from the facts and the templates' draft; an unusable answer falls back
    /// to the draft, an unreachable model retries the batch.
    pub fn with_model(model: ModelClient) -> NarratorStage {
        NarratorStage { model: Some(model) }
    }
}

/// The text of one entry: (narrative, reasoning).
pub fn render(entry: &ProgressLogged) -> (String, String) {
    let facts: Value = serde_json::from_str(&entry.context).unwrap_or(Value::Null);
    let items = facts["items"].as_str().unwrap_or("this item");
    let reasoning = reasoning(entry, &facts);
    let base = match (entry.status.as_str(), facts["waiting_reason"]["condition"].as_str()) {
        (_, _) if facts["message"].is_string() => return (facts["message"].as_str().unwrap_or_default().to_string(), reasoning),
        ("waiting", Some("inventory" | "price")) => "I'm holding off on purchasing".to_string(),
        ("waiting", _) => format!("Still waiting to buy {items}"),
        ("approval", _) => format!("I'm waiting for your approval on {items}"),
        ("decision_made", _) => format!("I'm placing your order for {items}"),
        (status, _) => format!("Update on {items}: {}", status.replace('_', " ")),
    };
    let narrative = match (entry.status.as_str(), reasoning.is_empty()) {
        ("approval", _) => format!("{base} before proceeding with the booking."),
        (_, true) => format!("{base}."),
        ("waiting", _) if facts["waiting_reason"]["type"] == "time" => format!("{base}: I'm {reasoning}."),
        _ => format!("{base} {reasoning}."),
    };
    (narrative, reasoning)
}

/// The agent's reasoning (module 14's `extract_agent_reasoning`), without the closing stop.
fn reasoning(entry: &ProgressLogged, facts: &Value) -> String {
    let w = &facts["waiting_reason"];
    let text = |v: &Value, default: &str| v.as_str().unwrap_or(default).to_string();
    match (entry.status.as_str(), w["type"].as_str(), w["condition"].as_str()) {
        ("waiting", Some("condition"), Some("weather")) => {
            let day = text(&w["day"], "the requested day");
            match (w["current_value"].as_str(), w["previous_value"].as_str()) {
                (Some(now), Some(_)) => format!("because the forecast for {day} just changed to '{now}'—monitoring for a clear window"),
                (Some(now), None) => format!("because the forecast for {day} is '{now}'—monitoring for a clear window"),
                (None, _) => format!("because there is no forecast for {day} yet—monitoring for a clear window"),
            }
        }
        ("waiting", Some("condition"), Some("inventory")) => format!("because {} is currently out of stock—monitoring for availability", text(&w["current_value"], "the item")),
        ("waiting", Some("condition"), Some("price")) => match w["current_value"].as_str() {
            Some(now) => format!("because the price is currently ${now}, waiting for it to drop to ${}", text(&w["target_value"], "?")),
            None => format!("because the price is not known yet, waiting for it to be ${} or less", text(&w["target_value"], "?")),
        },
        ("waiting", Some("time"), _) => format!("waiting for the right time window—{}", text(&w["reason"], "optimizing schedule")),
        ("decision_made", ..) => format!("because {}", text(&facts["decision_reason"]["reason"], "the time has come")),
        ("action_taken", ..) => format!("because {}", text(&facts["action_reason"]["reason"], "it was due")),
        _ => String::new(),
    }
}

/// The Progress Ledger card (Adaptive Card 1.5), its sections in the source's order.
pub fn card(entry: &ProgressLogged, narrative: &str, reasoning: &str) -> Value {
    let facts: Value = serde_json::from_str(&entry.context).unwrap_or(Value::Null);
    let fact = |title: &str, value: &str| json!({ "title": title, "value": value });
    let details: Vec<Value> = facts.as_object().into_iter().flatten().filter(|(k, _)| !matches!(k.as_str(), "items" | "description" | "message")).map(|(k, v)| fact(k, &v.to_string())).collect();
    json!({
        "type": "AdaptiveCard",
        "version": "1.5",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "body": [
            { "type": "TextBlock", "text": narrative, "wrap": true, "weight": "Bolder" },
            { "type": "Container", "items": [
                { "type": "TextBlock", "text": "Agent Reasoning", "weight": "Bolder", "size": "Small" },
                { "type": "TextBlock", "text": if reasoning.is_empty() { "N/A" } else { reasoning }, "wrap": true },
            ]},
            { "type": "FactSet", "id": "active-monitoring", "facts": [
                fact("IF", entry.if_text.as_deref().unwrap_or("N/A")),
                fact("THEN", entry.then_text.as_deref().unwrap_or("N/A")),
            ]},
            { "type": "TextBlock", "text": format!("Step {}: {}", entry.step, entry.step_name), "isSubtle": true, "size": "Small" },
            { "type": "FactSet", "id": "context", "facts": details },
        ],
    })
}

fn narrate_tool() -> Tool {
    Tool {
        name: "narrate",
        description: "Record the progress update the user reads in their chat thread.",
        parameters: json!({
            "type": "object",
            "properties": {
                "narrative": { "type": "string", "description": "One or two friendly sentences for the user, stating only the given facts." },
                "reasoning": { "type": "string", "description": "The agent's reasoning in one clause, e.g. 'because the forecast for Thursday is rainy'." },
            },
            "required": ["narrative", "reasoning"],
        }),
    }
}

const SYSTEM: &str = "You narrate the progress of a user's standing order in their chat. Use only the facts given; never invent vendors, prices, dates or weather. Keep the draft's meaning.";

impl NarratorStage {
    async fn written(&self, entry: &ProgressLogged, draft: (String, String)) -> Result<(String, String, String), StageError> {
        let Some(model) = &self.model else { return Ok((draft.0, draft.1, OFFLINE.to_string())) };
        let prompt = format!("Facts: {}\nStatus: {}\nDraft: {}", entry.context, entry.status, draft.0);
        match model.call_tool(SYSTEM, &prompt, &narrate_tool()).await {
            Ok(args) => {
                let narrative = args["narrative"].as_str().map(str::trim).unwrap_or_default().to_string();
                let reasoning = args["reasoning"].as_str().map(str::trim).unwrap_or_default().to_string();
                if narrative.is_empty() || narrative.chars().count() > MAX_NARRATIVE || narrative.contains('\0') || reasoning.contains('\0') {
                    tracing::warn!(entry = %entry.envelope.event_id, "the model's narrative is unusable; the offline text is logged");
                    return Ok((draft.0, draft.1, OFFLINE.to_string()));
                }
                Ok((narrative, reasoning, model.name().to_string()))
            }
            Err(ModelError::Unusable(reason)) => {
                tracing::warn!(entry = %entry.envelope.event_id, %reason, "the model gave no narrative; the offline text is logged");
                Ok((draft.0, draft.1, OFFLINE.to_string()))
            }
            Err(ModelError::Transient(e)) => Err(StageError::Transient(e.context("narrator model"))),
        }
    }
}

impl Stage for NarratorStage {
    type Input = IntentEvent;
    type Output = NarratorOutput;

    fn name(&self) -> &'static str {
        NAME
    }

    async fn resolve(&self, key: &str, input: &IntentEvent) -> Result<Vec<StageOutput<NarratorOutput>>, StageError> {
        let IntentEvent::ProgressLogged(entry) = input else { return Ok(Vec::new()) };
        if entry.log_type != "narrative" {
            return Ok(Vec::new());
        }
        if key != IntentKey::of(&entry.envelope.tenant_id, &entry.subject_id) {
            return Err(StageError::Permanent(format!("key {key:?} is not <tenant>|<intent> of the entry")));
        }
        if serde_json::from_str::<Value>(&entry.context).is_err() {
            return Err(StageError::Permanent("the entry's context is not JSON".into()));
        }
        let (narrative, reasoning, renderer) = self.written(entry, render(entry)).await?;
        let card = card(entry, &narrative, &reasoning).to_string();
        let narrated = Narrated {
            envelope: entry.envelope.derive(NAME, 0, entry.envelope.occurred_at),
            subject_kind: entry.subject_kind.clone(),
            subject_id: entry.subject_id.clone(),
            thread_id: entry.thread_id.clone(),
            entry_id: entry.envelope.event_id.clone(),
            step: entry.step,
            status: entry.status.clone(),
            narrative,
            reasoning,
            renderer,
            card,
        };
        Ok(vec![StageOutput { output: "narrations", key: key.to_string(), event: NarratorOutput::Narrated(narrated) }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use souk_schemas::Envelope;

    fn entry(status: &str, context: Value) -> ProgressLogged {
        ProgressLogged {
            envelope: Envelope::external("t", "e1", 0),
            subject_kind: "intent".into(),
            subject_id: "si1".into(),
            thread_id: "thread-si1".into(),
            step: 3,
            step_name: "condition_wait".into(),
            log_type: "narrative".into(),
            status: status.into(),
            text: String::new(),
            context: context.to_string(),
            if_text: Some("Weather == Sunny AND Day Of Week == Thursday".into()),
            then_text: Some("Order Flowers".into()),
        }
    }

    #[rstest]
    #[case::forecast_changed(
        "waiting",
        json!({ "items": "the flowers", "waiting_reason": { "type": "condition", "condition": "weather", "day": "Thursday", "current_value": "Rainy", "previous_value": "Sunny" } }),
        "Still waiting to buy the flowers because the forecast for Thursday just changed to 'Rainy'—monitoring for a clear window."
    )]
    #[case::out_of_stock(
        "waiting",
        json!({ "items": "the chocolates", "waiting_reason": { "type": "condition", "condition": "inventory", "current_value": "the custom chocolates" } }),
        "I'm holding off on purchasing because the custom chocolates is currently out of stock—monitoring for availability."
    )]
    #[case::price(
        "waiting",
        json!({ "items": "the chocolates", "waiting_reason": { "type": "condition", "condition": "price", "current_value": "45.00", "target_value": "40.00" } }),
        "I'm holding off on purchasing because the price is currently $45.00, waiting for it to drop to $40.00."
    )]
    #[case::approval("approval", json!({ "items": "the purple limo", "waiting_reason": { "type": "approval" } }), "I'm waiting for your approval on the purple limo before proceeding with the booking.")]
    #[case::message("cancelled", json!({ "message": "Intent cancelled - no approval received" }), "Intent cancelled - no approval received")]
    #[case::vendors("found_vendors", json!({ "message": "Found 3 vendors for your request!" }), "Found 3 vendors for your request!")]
    fn narratives_follow_the_sources_texts(#[case] status: &str, #[case] context: Value, #[case] expected: &str) {
        assert_eq!(render(&entry(status, context)).0, expected);
    }

    #[test]
    fn the_card_has_the_sources_sections_in_order() {
        let e = entry("waiting", json!({ "items": "the flowers", "waiting_reason": { "type": "time", "reason": "Thursday" } }));
        let (narrative, reasoning) = render(&e);
        let card = card(&e, &narrative, &reasoning);
        assert_eq!(card["version"], "1.5");
        assert_eq!(card["body"][0]["text"], "Still waiting to buy the flowers: I'm waiting for the right time window—Thursday.");
        assert_eq!(card["body"][1]["items"][0]["text"], "Agent Reasoning");
        assert_eq!(card["body"][2]["facts"][0], json!({ "title": "IF", "value": "Weather == Sunny AND Day Of Week == Thursday" }));
        assert_eq!(card["body"][2]["facts"][1]["value"], "Order Flowers");
    }
}
