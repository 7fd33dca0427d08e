//! The optional LLM backend of the `intent` stage: the shared model client ([`crate::model`]) asks
//! the configured model to read a customer message and answer with one forced function call,
//! `record_intent`, that this module validates against the tenant's catalog exactly like the
//! offline extractor's own output (same name matching, stock snapshot, A9 alternatives, A10 meters).
//!
//! The model is only ever asked once, by the live stage: its answer is logged in `IntentResolved`
//! (extractor `llm:<model>`) and downstream reads only that event, so replays never call a model
//! (ARCHITECTURE.md, "LLM/NLU results are events"). Reply-button ids and empty messages never go to the model. A model that is
//! unreachable (429, 5xx, timeouts, a rejected key) makes the stage retry without advancing; an
//! answer that cannot be used falls back to the offline extractor for that message.

use crate::intent::nlu::{self, Extraction, TenantCatalog};
use crate::model::{ModelClient, ModelConfig, ModelError, Tool};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use souk_runtime::stage::StageError;
use souk_schemas::orders::{IntentLine, IntentResolved, ItemDecision};
use souk_schemas::whatsapp::InboundMessage;
use souk_schemas::Envelope;
use std::collections::BTreeMap;
use std::str::FromStr;

/// The function the model is forced to call.
pub const TOOL: &str = "record_intent";

const DECISIONS: [&str; 10] = ["ORDER", "ADD", "CONFIRM", "CANCEL_ALL", "EDIT", "ACCEPT_AVAILABLE", "CANCEL_ITEM", "REQUEST_ALTERNATIVE", "GREETING", "UNKNOWN"];
const ACTIONS: [&str; 5] = ["ACCEPT_AVAILABLE", "CANCEL_ITEM", "REQUEST_ALTERNATIVE", "EDIT_ITEM", "REPLACE"];
/// Cap when something the model proposed was dropped or incomplete: below B6's 0.8, so the session asks.
const DROPPED: Decimal = Decimal::from_parts(60, 0, 0, false, 2);
/// Cap for an ORDER whose lines were all dropped (the offline extractor's "unknown but something").
const NOTHING_LEFT: Decimal = Decimal::from_parts(45, 0, 0, false, 2);

/// What a message means and which extractor decided it (`llm:<model>` or the offline fallback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The meaning.
    pub extraction: Extraction,
    /// Logged in `IntentResolved.extractor`.
    pub extractor: String,
}

/// Resolves message text with a chat-completions model, validated against the tenant catalog.
pub struct LlmExtractor {
    model: ModelClient,
}

impl LlmExtractor {
    /// An extractor asking the model `config` names.
    pub fn new(config: &ModelConfig) -> LlmExtractor {
        LlmExtractor { model: ModelClient::new(config) }
    }

    /// The extractor name logged for model answers: `llm:<model>`.
    pub fn name(&self) -> &str {
        self.model.name()
    }

    /// The meaning of one message: reply ids and empty texts map offline without a call; text goes
    /// to the model; an unusable answer falls back to the offline extractor (with a warning).
    pub async fn extract(&self, text: Option<&str>, reply_id: Option<&str>, catalog: &TenantCatalog) -> Result<Extracted, StageError> {
        let offline = |extraction| Extracted { extraction, extractor: nlu::EXTRACTOR.to_string() };
        let said = text.map(str::trim).filter(|t| !t.is_empty());
        let (Some(said), false) = (said, reply_id.is_some_and(|r| !r.is_empty())) else {
            return Ok(offline(nlu::extract(text, reply_id, catalog)));
        };
        let fallback = nlu::extract(Some(said), None, catalog);
        let answer = match self.model.call_tool(&system_prompt(catalog), said, &tool()).await {
            Ok(args) => normalize(&args, said, catalog, &fallback.language).map_err(ModelError::Unusable),
            Err(e) => Err(e),
        };
        match answer {
            Ok(extraction) => Ok(Extracted { extraction, extractor: self.name().to_string() }),
            Err(ModelError::Transient(e)) => Err(StageError::Transient(e)),
            Err(ModelError::Unusable(why)) => {
                tracing::warn!(extractor = %self.name(), reason = %why, "unusable model answer; using the offline extractor for this message");
                Ok(offline(fallback))
            }
        }
    }

    /// [`extract`](Self::extract) on an `InboundMessage`, wrapped into the event the stage logs.
    pub async fn resolve(&self, envelope: Envelope, message: &InboundMessage, catalog: &TenantCatalog) -> Result<IntentResolved, StageError> {
        let Extracted { extraction, extractor } = self.extract(message.text.as_deref(), message.reply_id.as_deref(), catalog).await?;
        let mut resolved = extraction.into_resolved(envelope, &message.wa_id, &message.envelope.event_id, &message.wamid, message.text.clone(), message.reply_id.clone());
        resolved.extractor = extractor;
        Ok(resolved)
    }
}

/// `record_intent`: what the model must answer with.
fn tool() -> Tool {
    Tool { name: TOOL, description: "Record what the customer's message means for their textile order.", parameters: tool_schema() }
}

/// The system prompt: the task, the decision vocabulary, and the tenant's catalog.
fn system_prompt(catalog: &TenantCatalog) -> String {
    let mut pools: BTreeMap<&str, (Vec<&str>, Vec<&str>)> = BTreeMap::new();
    for e in &catalog.items {
        let (aliases, colors) = pools.entry(e.material.as_str()).or_default();
        aliases.extend(e.aliases.iter().map(String::as_str).filter(|a| !aliases.contains(a)).collect::<Vec<_>>());
        if !colors.contains(&e.color.as_str()) {
            colors.push(&e.color);
        }
    }
    let listing: Vec<String> = pools
        .iter()
        .map(|(m, (aliases, colors))| {
            let aka = if aliases.is_empty() { String::new() } else { format!(" (also called {})", aliases.join(", ")) };
            format!("- {m}{aka}: {}", colors.join(", "))
        })
        .collect();
    format!(
        "You read one WhatsApp message a customer sent to a textile shop, in English or Hinglish \
(Hindi in Latin letters), and record what it means by calling {TOOL} exactly once.\n\
decision: ORDER (new order lines), ADD (lines added to the current order), CONFIRM (yes, go ahead), \
CANCEL_ALL (cancel the whole order), EDIT (change quantities of lines), ACCEPT_AVAILABLE (accept \
the quantity in stock), CANCEL_ITEM (remove lines), REQUEST_ALTERNATIVE (ask for other options or \
replace a line), GREETING (only a greeting), UNKNOWN (anything else).\n\
lines: one per material, color and quantity said. Use the catalog's spelling of materials and \
colors (neela = blue, laal = red, safed = white, kala = black, hara = green, sooti = cotton, \
resham = silk). quantity is a decimal string exactly as said (\"10\", \"2.5\"); unit is m (meter, \
mtr), yard, gaj or roll (than). fragment is the words of the message the line came from.\n\
decisions: about lines of the order summary the customer already saw, in message order: action \
ACCEPT_AVAILABLE, CANCEL_ITEM, REQUEST_ALTERNATIVE, EDIT_ITEM (meters = the new quantity in \
meters, a decimal string) or REPLACE (replacement = the new material and color); name the line by \
index (its 1-based number in the summary) and/or material and color.\n\
confidence: 0 to 1, how sure you are of the whole reading. Never invent products; a material not \
in the catalog is still reported as said.\nCatalog (material: colors):\n{}",
        listing.join("\n")
    )
}

/// JSON schema of `record_intent`'s parameters.
fn tool_schema() -> Value {
    let name = |what: &str| json!({"type": "string", "description": what});
    json!({
        "type": "object",
        "properties": {
            "decision": {"type": "string", "enum": DECISIONS},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "lines": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "material": name("catalog material"),
                    "color": name("catalog color"),
                    "quantity": name("decimal number as a string, e.g. \"2.5\""),
                    "unit": {"type": "string", "enum": ["m", "yard", "gaj", "roll"]},
                    "fragment": name("the words of the message this line came from"),
                },
                "required": ["material", "color", "quantity", "unit"],
            }},
            "decisions": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "action": {"type": "string", "enum": ACTIONS},
                    "index": {"type": "integer", "minimum": 1},
                    "material": name("material of the line meant"),
                    "color": name("color of the line meant"),
                    "meters": name("EDIT_ITEM: new quantity in meters, a decimal string"),
                    "replacement": {"type": "object", "properties": {"material": name("new material"), "color": name("new color")}, "required": ["material", "color"]},
                },
                "required": ["action"],
            }},
        },
        "required": ["decision", "confidence", "lines", "decisions"],
    })
}

/// An exact decimal from a JSON string or number: a number is taken by its JSON text (never
/// through an `f64` computation), so `2.35` stays 2.35.
fn decimal(v: &Value) -> Option<Decimal> {
    let text = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => Value::Number(n.clone()).to_string(),
        _ => return None,
    };
    Decimal::from_str(&text).or_else(|_| Decimal::from_scientific(&text)).ok()
}

/// A string field, trimmed; `None` when absent, null or empty.
fn text_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

/// An array field; absent or null is empty, anything else but an array is malformed.
fn array<'a>(args: &'a Value, key: &str) -> Result<&'a [Value], String> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(format!("{key} is not an array")),
    }
}

/// Validates the model's arguments against the catalog. Malformed structure is an error (the
/// caller falls back offline); an unknown material, color, unit or action drops that line or
/// decision and caps the confidence below B6's threshold.
fn normalize(args: &Value, text: &str, catalog: &TenantCatalog, language: &str) -> Result<Extraction, String> {
    if !args.is_object() {
        return Err("arguments are not an object".into());
    }
    let decision = text_of(args, "decision").map(str::to_uppercase).filter(|d| DECISIONS.contains(&d.as_str())).ok_or("decision missing or unknown")?;
    let mut caps = vec![decimal(&args["confidence"]).ok_or("confidence missing or not a number")?];
    let mut lines: Vec<IntentLine> = Vec::new();
    for raw in array(args, "lines")? {
        let fragment = text_of(raw, "fragment").filter(|f| text.contains(f)).unwrap_or(text);
        let line = (|| nlu::proposed_line(catalog, text_of(raw, "material")?, text_of(raw, "color"), decimal(raw.get("quantity")?)?, text_of(raw, "unit")?, fragment))();
        match line {
            Some(line) => lines.push(line),
            None => caps.push(DROPPED),
        }
    }
    let mut decisions: Vec<ItemDecision> = Vec::new();
    for raw in array(args, "decisions")? {
        match item_decision(raw, text, catalog) {
            Some((d, complete)) => {
                if !complete {
                    caps.push(DROPPED);
                }
                decisions.push(d);
            }
            None => caps.push(DROPPED),
        }
    }
    caps.extend(lines.iter().map(|l| l.match_confidence));
    caps.extend(decisions.iter().filter_map(|d| d.replacement.as_ref()).map(|l| l.match_confidence));
    let decision = match decision.as_str() {
        "CANCEL_ALL" => {
            lines.clear();
            decisions.clear();
            decision
        }
        "ORDER" if lines.is_empty() => {
            caps.push(NOTHING_LEFT);
            "UNKNOWN".to_string()
        }
        "ADD" | "ACCEPT_AVAILABLE" | "CANCEL_ITEM" | "REQUEST_ALTERNATIVE" if lines.is_empty() && decisions.is_empty() => {
            caps.push(DROPPED);
            decision
        }
        _ => decision,
    };
    let confidence = nlu::clamp_confidence(caps.into_iter().min().unwrap_or(Decimal::ZERO));
    Ok(Extraction { decision, confidence, lines, decisions, language: language.to_string() })
}

/// One decision about an existing line; `None` drops it (unknown action or name, bad index, a
/// REPLACE without a usable replacement). The flag is false for an EDIT_ITEM without meters.
fn item_decision(raw: &Value, text: &str, catalog: &TenantCatalog) -> Option<(ItemDecision, bool)> {
    let action = text_of(raw, "action").map(str::to_uppercase).filter(|a| ACTIONS.contains(&a.as_str()))?;
    let index = match raw.get("index") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().filter(|n| *n >= 1).and_then(|n| i32::try_from(n).ok())?),
    };
    let material = match text_of(raw, "material") {
        Some(m) => Some(nlu::match_material(catalog, m)?.0),
        None => None,
    };
    let color = match text_of(raw, "color") {
        Some(c) => Some(nlu::match_color(catalog, c)?.0),
        None => None,
    };
    let meters = match raw.get("meters") {
        None | Some(Value::Null) => None,
        Some(v) => Some(decimal(v).filter(|m| *m > Decimal::ZERO).and_then(|m| nlu::to_meters(m, "m", None))?),
    };
    let replacement = match action.as_str() {
        "REPLACE" => {
            let r = raw.get("replacement")?;
            let source = text_of(r, "fragment").filter(|f| text.contains(f)).unwrap_or(text);
            Some(nlu::proposed_replacement(catalog, text_of(r, "material")?, text_of(r, "color")?, source)?)
        }
        _ => None,
    };
    let complete = action != "EDIT_ITEM" || meters.is_some();
    let meters = if action == "EDIT_ITEM" { meters } else { None };
    Some((ItemDecision { action, material, color, index, meters, replacement }, complete))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::nlu::CatalogEntry;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::Json;
    use souk_runtime::tenants::Secret;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// What the fake server answers, and every request it saw (headers, body).
    #[derive(Default)]
    struct Fake {
        status: u16,
        answer: Value,
        delay: Duration,
        seen: Vec<(HeaderMap, Value)>,
        addr: Option<std::net::SocketAddr>,
    }
    type Shared = Arc<Mutex<Fake>>;

    async fn completions(State(fake): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
        let (status, answer, delay) = {
            let mut f = fake.lock().unwrap();
            f.seen.push((headers, body));
            (f.status, f.answer.clone(), f.delay)
        };
        tokio::time::sleep(delay).await;
        (StatusCode::from_u16(status).unwrap(), Json(answer))
    }

    /// A chat-completions server on 127.0.0.1:0 and an extractor pointed at it.
    async fn serve(status: u16, answer: Value) -> (LlmExtractor, Shared) {
        let fake: Shared = Arc::new(Mutex::new(Fake { status, answer, ..Fake::default() }));
        let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(completions)).with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        fake.lock().unwrap().addr = Some(addr);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (LlmExtractor::new(&config(addr, Duration::from_secs(5))), fake)
    }

    fn config(addr: std::net::SocketAddr, timeout: Duration) -> ModelConfig {
        ModelConfig { base_url: format!("http://{addr}/v1/"), model: "gpt-test".into(), api_key: Secret::new("sk-test"), timeout }
    }

    /// A chat completion whose only content is a `record_intent` call with `arguments`.
    fn tool_call(arguments: &str) -> Value {
        json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-test", "choices": [{
            "index": 0, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": TOOL, "arguments": arguments}}
            ]},
        }]})
    }

    fn catalog() -> TenantCatalog {
        let entry = |material: &str, color: &str, available: i64, aliases: &[&str]| CatalogEntry {
            material: material.into(),
            color: color.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            available_meters: Decimal::from(available),
            price_per_meter: Some(Decimal::new(1205, 1)),
            meters_per_roll: Some(Decimal::from(50)),
        };
        TenantCatalog { items: vec![entry("cotton", "blue", 100, &["sooti"]), entry("cotton", "red", 30, &["sooti"]), entry("polyester", "red", 0, &[]), entry("polyester", "white", 45, &[])] }
    }

    const HINGLISH: &str = "10m neela cotton aur 6m laal polyester";

    fn two_lines(confidence: &str) -> String {
        format!(
            r#"{{"decision":"ORDER","confidence":{confidence},"decisions":[],"lines":[
            {{"material":"cotton","color":"neela","quantity":"10","unit":"m","fragment":"10m neela cotton"}},
            {{"material":"Polyester","color":"red","quantity":"6","unit":"m","fragment":"6m laal polyester"}}]}}"#
        )
    }

    #[tokio::test]
    async fn the_request_forces_the_tool_with_model_and_bearer() {
        let (llm, fake) = serve(200, tool_call(&two_lines("0.9"))).await;
        llm.extract(Some(HINGLISH), None, &catalog()).await.unwrap();
        let seen = std::mem::take(&mut fake.lock().unwrap().seen);
        assert_eq!(seen.len(), 1);
        let (headers, body) = &seen[0];
        assert_eq!(headers["authorization"], "Bearer sk-test");
        assert_eq!(body["model"], "gpt-test");
        assert_eq!(body["tool_choice"], json!({"type": "function", "function": {"name": "record_intent"}}));
        assert_eq!(body["tools"][0]["type"], "function");
        assert_eq!(body["tools"][0]["function"]["name"], "record_intent");
        assert_eq!(body["tools"][0]["function"]["parameters"]["properties"]["lines"]["items"]["properties"]["quantity"]["type"], "string");
        assert_eq!(body["messages"][1], json!({"role": "user", "content": HINGLISH}));
        let system = body["messages"][0]["content"].as_str().unwrap();
        assert!(system.contains("- cotton (also called sooti): blue, red") && system.contains("- polyester: red, white"), "{system}");
        assert!(system.contains("CANCEL_ALL") && system.contains("REQUEST_ALTERNATIVE"));
    }

    #[tokio::test]
    async fn hinglish_lines_carry_the_offline_snapshot() {
        let (llm, _) = serve(200, tool_call(&two_lines("0.93"))).await;
        let got = llm.extract(Some(HINGLISH), None, &catalog()).await.unwrap();
        let offline = nlu::extract(Some(HINGLISH), None, &catalog());
        assert_eq!(got.extractor, "llm:gpt-test");
        assert_eq!(got.extraction.lines, offline.lines, "same lines, snapshot and A9 alternatives as offline");
        let red = &got.extraction.lines[1];
        assert_eq!((red.material.as_str(), red.color.as_str(), red.available_meters), ("polyester", "red", Some(Decimal::ZERO)));
        assert_eq!(red.alternatives.len(), 2, "polyester white, then cotton red");
        assert_eq!(got.extraction.decision, "ORDER");
        assert_eq!(got.extraction.confidence.to_string(), "0.930");
        assert_eq!(got.extraction.language, "hinglish");
    }

    #[tokio::test]
    async fn number_quantities_stay_exact() {
        let args = r#"{"decision":"ORDER","confidence":1.7,"decisions":[],"lines":[{"material":"sooti","color":"blue","quantity":2.35,"unit":"yard"}]}"#;
        let (llm, _) = serve(200, tool_call(args)).await;
        let got = llm.extract(Some("2.35 yard sooti blue"), None, &catalog()).await.unwrap().extraction;
        assert_eq!(got.lines[0].quantity.to_string(), "2.35");
        assert_eq!(got.lines[0].requested_meters, Some(Decimal::new(2149, 3)), "2.35 × 0.9144 = 2.14884");
        assert_eq!(got.lines[0].material, "cotton");
        assert_eq!(got.confidence.to_string(), "1.000", "clamped");
    }

    #[tokio::test]
    async fn an_unknown_material_is_dropped_and_lowers_confidence() {
        let args = r#"{"decision":"ORDER","confidence":0.95,"decisions":[],"lines":[
            {"material":"velvet","color":"red","quantity":"4","unit":"m"},
            {"material":"cotton","color":"blue","quantity":"3","unit":"m"}]}"#;
        let (llm, _) = serve(200, tool_call(args)).await;
        let got = llm.extract(Some("4m velvet red, 3m cotton blue"), None, &catalog()).await.unwrap();
        assert_eq!(got.extractor, "llm:gpt-test");
        assert_eq!(got.extraction.lines.len(), 1);
        assert_eq!(got.extraction.lines[0].material, "cotton");
        assert_eq!(got.extraction.confidence.to_string(), "0.600");
    }

    #[tokio::test]
    async fn unusable_answers_fall_back_to_the_offline_extractor() {
        let offline = nlu::extract(Some(HINGLISH), None, &catalog());
        let no_call = json!({"choices": [{"message": {"role": "assistant", "content": "10m cotton"}}]});
        for answer in [tool_call("{\"decision\": \"ORD"), tool_call(r#"{"decision":"BUY","confidence":1}"#), no_call] {
            let (llm, fake) = serve(200, answer).await;
            let got = llm.extract(Some(HINGLISH), None, &catalog()).await.unwrap();
            assert_eq!(got, Extracted { extraction: offline.clone(), extractor: nlu::EXTRACTOR.into() });
            assert_eq!(fake.lock().unwrap().seen.len(), 1);
        }
    }

    #[tokio::test]
    async fn an_unavailable_model_is_transient() {
        let (llm, _) = serve(503, json!({"error": {"message": "overloaded"}})).await;
        assert!(matches!(llm.extract(Some(HINGLISH), None, &catalog()).await, Err(StageError::Transient(_))));
        let (_, fake) = serve(200, tool_call(&two_lines("0.9"))).await;
        fake.lock().unwrap().delay = Duration::from_secs(3);
        let addr = fake.lock().unwrap().addr.expect("served");
        let slow = LlmExtractor::new(&config(addr, Duration::from_millis(200)));
        assert!(matches!(slow.extract(Some(HINGLISH), None, &catalog()).await, Err(StageError::Transient(_))));
    }

    #[tokio::test]
    async fn reply_ids_and_empty_texts_never_reach_the_model() {
        let (llm, fake) = serve(200, tool_call(&two_lines("0.9"))).await;
        let got = llm.extract(Some("Cancel item 2"), Some("cancel_item:2"), &catalog()).await.unwrap();
        assert_eq!(got.extractor, nlu::EXTRACTOR);
        assert_eq!(got.extraction, nlu::extract(Some("Cancel item 2"), Some("cancel_item:2"), &catalog()));
        assert_eq!(got.extraction.decisions[0].index, Some(2));
        llm.extract(Some("   "), None, &catalog()).await.unwrap();
        assert!(fake.lock().unwrap().seen.is_empty());
    }
}
