//! Progress ledger entries (rules SI7; seed-000 module 14's thought, narrative, activity and event
//! logs): each is one `ProgressLogged` with the intent's next step number. A narrative entry
//! carries the facts — the narrator stage renders the text the user reads.

use super::state::Intent;
use super::IntentOutput;
use serde_json::Value;
use souk_runtime::Ctx;
use souk_schemas::intents::ProgressLogged;

/// One entry before it is numbered.
pub struct Entry {
    step_name: &'static str,
    log_type: &'static str,
    status: &'static str,
    text: String,
    context: Value,
}

impl Entry {
    /// Internal reasoning.
    pub fn thought(step_name: &'static str, status: &'static str, text: String) -> Entry {
        Entry { step_name, log_type: "thought", status, text, context: Value::Null }
    }

    /// Something the agent did.
    pub fn activity(step_name: &'static str, status: &'static str, text: String) -> Entry {
        Entry { step_name, log_type: "activity", status, text, context: Value::Null }
    }

    /// Something that happened to the intent.
    pub fn event(step_name: &'static str, status: &'static str, text: String) -> Entry {
        Entry { step_name, log_type: "event", status, text, context: Value::Null }
    }

    /// Facts to narrate to the user (the reasoning context).
    pub fn narrative(step_name: &'static str, status: &'static str, context: Value) -> Entry {
        Entry { step_name, log_type: "narrative", status, text: String::new(), context }
    }

    /// Writes it to the intent's ledger.
    pub fn log(self, intent: &mut Intent, ctx: &mut Ctx<IntentOutput>) {
        intent.step += 1;
        let r = &intent.request;
        let mut context = self.context;
        if let Value::Object(map) = &mut context {
            map.insert("items".into(), Value::String(intent.items_text()));
            map.insert("description".into(), Value::String(r.description.clone()));
        }
        let entry = ProgressLogged {
            envelope: ctx.envelope(),
            subject_kind: "intent".into(),
            subject_id: r.intent_id.clone(),
            thread_id: r.thread_id.clone(),
            step: intent.step,
            step_name: self.step_name.into(),
            log_type: self.log_type.into(),
            status: self.status.into(),
            text: self.text,
            context: if context.is_null() { "{}".into() } else { context.to_string() },
            if_text: Some(intent.if_text()),
            then_text: Some(intent.then_text()),
        };
        ctx.emit(ctx.key().to_string(), IntentOutput::ProgressLogged(entry));
    }
}
