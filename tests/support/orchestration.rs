//! The orchestration system for the end-to-end tests: the textile harness's `souk run` (every
//! component, a recording WhatsApp Cloud API) driven with the flowers story's steps over HTTP, with
//! a driven clock when timers are tested.
#![allow(dead_code)]

use super::textile::Textile;
use chrono::{DateTime, Utc};
use serde_json::Value;
use souk::demo::flowers::{self, PARTNER_A};

/// Minutes and hours of stream time, in ms.
pub const MINUTE: i64 = 60_000;
pub const HOUR: i64 = 60 * MINUTE;

/// RFC 3339 of epoch ms.
pub fn rfc(at: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(at).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An epoch-ms origin in the future, whole seconds: the driven clock's first tick, so every
/// decision's stream time is known to the test.
pub fn origin() -> i64 {
    (Utc::now().timestamp() + 3_600) * 1_000
}

/// One bundle's story on a running system.
pub struct Story<'t> {
    pub t: &'t Textile,
    pub bundle: String,
}

impl<'t> Story<'t> {
    /// Declares the partners (B's pink flowers at `price`) unless `declared`, orders `bundle` whose
    /// flowers leg starts `leg_in` after `now` (epoch ms), asks for pink flowers, and returns once
    /// Partner A has the request.
    pub async fn change_requested(t: &'t Textile, bundle: &str, price: &str, now: i64, leg_in: i64, is_jit: bool) -> Story<'t> {
        flowers::declare_partners(&t.client, price).await.unwrap();
        Story::order_and_ask(t, bundle, now, leg_in, is_jit).await
    }

    /// Like [`Story::change_requested`] with the partners already declared.
    pub async fn order_and_ask(t: &'t Textile, bundle: &str, now: i64, leg_in: i64, is_jit: bool) -> Story<'t> {
        let before = t.sends_to(PARTNER_A).len();
        flowers::order_bundle(&t.client, bundle, &rfc(now), &rfc(now + leg_in), &rfc(now + leg_in + 2 * HOUR), is_jit).await.unwrap();
        flowers::chat(&t.client, bundle, &format!("{bundle}-msg-1"), "I want pink flowers instead of red").await.unwrap();
        t.wait_sent(PARTNER_A, before + 1).await;
        Story { t, bundle: bundle.to_string() }
    }

    /// Everything so far decided and projected: the processor has committed its input and the
    /// sinks their inputs (no sleeping: each waits for its consumer group).
    pub async fn settled(&self) {
        self.t.caught_up("chat-intent", "chat.inbound").await;
        self.t.caught_up("negotiation", "negotiation.inputs").await;
        self.t.caught_up("resourcing", "negotiation.events").await;
        self.t.caught_up("negotiation", "negotiation.inputs").await;
        self.t.caught_up("orchestration-postgres", "negotiation.events").await;
        self.t.caught_up("commerce-postgres", "escalations").await;
    }

    /// The bundle as the read API shows it now.
    pub async fn now(&self) -> Value {
        self.t.client.get(&format!("/v1/bundles/{}", self.bundle)).await.unwrap()
    }

    /// The bundle's (first) negotiation once it is in `status`.
    pub async fn negotiation_in(&self, status: &str) -> Value {
        let b = flowers::bundle_when(&self.t.client, &self.bundle, &format!("a negotiation {status}"), |b| b["negotiations"][0]["status"] == status).await;
        b.unwrap_or_else(|e| panic!("{e:#}\n{}", self.t.log_tail()))["negotiations"][0].clone()
    }

    /// The escalations raised about this bundle.
    pub async fn escalations(&self) -> Vec<Value> {
        let all = self.t.client.get("/v1/escalations").await.unwrap();
        let marker = format!("bundle {},", self.bundle);
        all["escalations"].as_array().unwrap().iter().filter(|e| e["detail"].as_str().is_some_and(|d| d.contains(&marker))).cloned().collect()
    }

    /// The user writes `text` in the thread.
    pub async fn user_says(&self, id: &str, text: &str) {
        flowers::chat(&self.t.client, &self.bundle, &format!("{}-{id}", self.bundle), text).await.unwrap();
    }
}
