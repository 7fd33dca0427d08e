//! Failed-authentication anomalies (rules AU3; source 002 §d `SecurityAuditLogger` with API keys
//! in place of passwords): a keyed state machine over `security.inputs`.
//!
//! - key `*|<ip>` (keys nobody has, presented from one address): more than **5 failures in the last
//!   hour** ⇒ `excessive_failed_logins`, severity `high` — raised when the count passes 5, and
//!   again only after it has fallen back to 5 or fewer;
//! - key `<tenant>|<principal>` (one tenant's key): used from more than **3 distinct addresses in
//!   24 hours** ⇒ `multiple_ip_addresses`, severity `medium`, also a notification in the
//!   tenant's feed (the owner can rotate the key) — raised once per crossing likewise.
//!
//! Windows run on the attempts' own times (stream time), so a replay finds the same anomalies.

use serde::{Deserialize, Serialize};
use souk_runtime::{Ctx, Processor, Rejection};
use souk_schemas::security::{AuthAttempted, SecurityAnomaly, SecurityInput, SecurityOutput};
use souk_schemas::social::NotificationRaised;
use std::collections::{BTreeMap, VecDeque};

/// The processor's name in topology.toml.
pub const NAME: &str = "auth-anomalies";
/// Failures from one address that are still normal within an hour.
pub const MAX_FAILURES_PER_HOUR: usize = 5;
/// Addresses one key may be used from within a day.
pub const MAX_IPS_PER_DAY: usize = 3;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// One key's window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthWindow {
    /// Failure times (ms) within the last hour, oldest first.
    pub failures: VecDeque<i64>,
    /// Address → last use (ms) within the last day.
    pub ips: BTreeMap<String, i64>,
    /// An anomaly is raised and the count has not fallen back since.
    pub raised: bool,
}

/// The anomaly state machine; stateless itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthAnomalies;

impl Processor for AuthAnomalies {
    type State = AuthWindow;
    type Input = SecurityInput;
    type Output = SecurityOutput;

    fn name(&self) -> &'static str {
        NAME
    }

    fn handle(&self, state: &mut AuthWindow, event: &SecurityInput, ctx: &mut Ctx<SecurityOutput>) -> Result<(), Rejection> {
        let SecurityInput::AuthAttempted(a) = event;
        let at = a.envelope.occurred_at;
        if a.success {
            if a.principal.is_none() {
                return Err(Rejection::new("NO_PRINCIPAL", "a successful attempt names whose key it was"));
            }
            addresses(state, a, at, ctx);
        } else {
            failures(state, a, at, ctx);
        }
        Ok(())
    }

    fn on_timer(&self, _state: &mut AuthWindow, _timer_id: &str, _ctx: &mut Ctx<SecurityOutput>) {}

    fn output_name(&self, output: &SecurityOutput) -> &'static str {
        match output {
            SecurityOutput::SecurityAnomaly(_) => "events",
            SecurityOutput::NotificationRaised(_) => "notifications",
        }
    }
}

fn failures(state: &mut AuthWindow, a: &AuthAttempted, at: i64, ctx: &mut Ctx<SecurityOutput>) {
    state.failures.push_back(at);
    while state.failures.front().is_some_and(|t| at - *t >= HOUR_MS) {
        state.failures.pop_front();
    }
    let count = state.failures.len();
    if count <= MAX_FAILURES_PER_HOUR {
        state.raised = false;
    } else if !state.raised {
        state.raised = true;
        let anomaly = SecurityAnomaly {
            envelope: ctx.envelope(),
            kind: "excessive_failed_logins".into(),
            severity: "high".into(),
            subject: a.ip.clone(),
            count: count as i32,
            window_seconds: HOUR_MS / 1000,
            ips: vec![a.ip.clone()],
        };
        emit_anomaly(ctx, anomaly);
    }
}

fn addresses(state: &mut AuthWindow, a: &AuthAttempted, at: i64, ctx: &mut Ctx<SecurityOutput>) {
    state.ips.insert(a.ip.clone(), at);
    state.ips.retain(|_, seen| at - *seen < DAY_MS);
    let distinct = state.ips.len();
    if distinct <= MAX_IPS_PER_DAY {
        state.raised = false;
        return;
    }
    if state.raised {
        return;
    }
    state.raised = true;
    let key = ctx.key().to_string();
    let tenant = key.split_once('|').map_or("", |(t, _)| t).to_string();
    let principal = a.principal.clone().unwrap_or_default();
    let ips: Vec<String> = state.ips.keys().cloned().collect();
    let anomaly = SecurityAnomaly {
        envelope: ctx.envelope(),
        kind: "multiple_ip_addresses".into(),
        severity: "medium".into(),
        subject: key,
        count: distinct as i32,
        window_seconds: DAY_MS / 1000,
        ips: ips.clone(),
    };
    let envelope = ctx.envelope();
    let raised = NotificationRaised {
        notification_id: format!("security-{}", envelope.event_id),
        envelope,
        kind: "security".into(),
        priority: "medium".into(),
        title: format!("API key of {principal} used from {distinct} addresses"),
        body: format!("The {principal} key was used from {distinct} different addresses in 24 hours ({}). If that was not your team, replace the key.", ips.join(", ")),
        preview: None,
        subject: None,
        context: serde_json::json!({ "anomaly": "multiple_ip_addresses", "principal": principal, "ips": ips, "window_hours": 24 }).to_string(),
        link: None,
    };
    emit_anomaly(ctx, anomaly);
    ctx.emit(tenant, SecurityOutput::NotificationRaised(raised));
}

/// Emits the anomaly under the attempt's key.
fn emit_anomaly(ctx: &mut Ctx<SecurityOutput>, anomaly: SecurityAnomaly) {
    let key = ctx.key().to_string();
    ctx.emit(key, SecurityOutput::SecurityAnomaly(anomaly));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;
    use souk_runtime::TestDriver;
    use souk_schemas::Envelope;

    const T0: i64 = 1_764_000_000_000;
    const MIN: i64 = 60_000;

    fn attempt(n: usize, tenant: &str, principal: Option<&str>, ip: &str, at: i64) -> SecurityInput {
        SecurityInput::AuthAttempted(AuthAttempted {
            envelope: Envelope::external(tenant, &format!("a{n}"), at),
            ip: ip.into(),
            principal: principal.map(str::to_string),
            success: principal.is_some(),
            path: "/v1/rules".into(),
            user_agent: None,
        })
    }

    fn anomalies(out: &[souk_runtime::processor::Emitted<SecurityOutput>]) -> Vec<SecurityAnomaly> {
        out.iter().filter_map(|e| if let SecurityOutput::SecurityAnomaly(a) = &e.event { Some(a.clone()) } else { None }).collect()
    }

    /// Example 16: failures at these minutes ⇒ the attempt (by index) that raises.
    #[rstest]
    #[case::six_in_an_hour(&[0, 1, 2, 3, 4, 5], Some(5))]
    #[case::five_are_normal(&[0, 1, 2, 3, 4], None)]
    #[case::spread_over_more_than_an_hour(&[0, 15, 30, 45, 60, 75], None)]
    #[case::the_sixth_just_within_the_hour(&[0, 10, 20, 30, 40, 59], Some(5))]
    #[case::the_first_left_the_hour(&[0, 10, 20, 30, 40, 60], None)]
    fn example_16_failed_logins(#[case] minutes: &[i64], #[case] raised_at: Option<usize>) {
        let mut d = TestDriver::new(AuthAnomalies, 1);
        let mut raised = None;
        for (i, m) in minutes.iter().enumerate() {
            let found = anomalies(&d.feed("security.inputs", "*|10.0.0.9", attempt(i, "*", None, "10.0.0.9", T0 + m * MIN)));
            if let Some(a) = found.first() {
                assert_eq!((a.kind.as_str(), a.severity.as_str(), a.count), ("excessive_failed_logins", "high", 6));
                raised.get_or_insert(i);
            }
        }
        assert_eq!(raised, raised_at);
    }

    /// Example 17: a key used from addresses at these hours ⇒ raised at the attempt (by index).
    #[rstest]
    #[case::four_in_a_day(&[("1.1.1.1", 0), ("2.2.2.2", 1), ("3.3.3.3", 2), ("4.4.4.4", 3)], Some(3))]
    #[case::three_are_normal(&[("1.1.1.1", 0), ("2.2.2.2", 1), ("3.3.3.3", 2), ("1.1.1.1", 3)], None)]
    #[case::a_day_apart(&[("1.1.1.1", 0), ("2.2.2.2", 1), ("3.3.3.3", 2), ("4.4.4.4", 25)], None)]
    fn example_17_multiple_addresses(#[case] uses: &[(&str, i64)], #[case] raised_at: Option<usize>) {
        let mut d = TestDriver::new(AuthAnomalies, 1);
        let mut raised = None;
        for (i, (ip, h)) in uses.iter().enumerate() {
            let out = d.feed("security.inputs", "shop|owner", attempt(i, "shop", Some("owner"), ip, T0 + h * 60 * MIN));
            if let Some(a) = anomalies(&out).first() {
                assert_eq!((a.kind.as_str(), a.severity.as_str(), a.count), ("multiple_ip_addresses", "medium", 4));
                let note = out.iter().find_map(|e| if let SecurityOutput::NotificationRaised(n) = &e.event { Some((e.key.clone(), n.priority.clone())) } else { None });
                assert_eq!(note, Some(("shop".to_string(), "medium".to_string())), "the owner's feed hears of it");
                raised.get_or_insert(i);
            }
        }
        assert_eq!(raised, raised_at);
    }

    proptest! {
        /// Against a model of the window: an anomaly is raised exactly when the hour's count passes
        /// 5 and none is raised since it last was at or below 5.
        #[test]
        fn raised_once_per_crossing(gaps in proptest::collection::vec(0i64..30, 1..40)) {
            let mut d = TestDriver::new(AuthAnomalies, 1);
            let (mut at, mut times, mut raised) = (T0, Vec::<i64>::new(), false);
            for (i, gap) in gaps.into_iter().enumerate() {
                at += gap * MIN;
                times.push(at);
                times.retain(|t| at - t < HOUR_MS);
                let expected = times.len() > MAX_FAILURES_PER_HOUR && !raised;
                raised = times.len() > MAX_FAILURES_PER_HOUR;
                let found = anomalies(&d.feed("security.inputs", "*|ip", attempt(i, "*", None, "ip", at)));
                prop_assert_eq!(found.len(), usize::from(expected), "attempt {} with {} in the hour", i, times.len());
            }
        }
    }
}
