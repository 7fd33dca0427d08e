//! What the dispatcher does next with one request, as pure functions of its ledger row, the
//! status webhook (if any) that carries its callback data, and the clock — so every rule about
//! resending is here, testable without a broker or a Cloud API:
//! - a finished row (SENT/FAILED) answers from the ledger; a status webhook for the request
//!   settles it as sent (Meta has it, whatever the lost answer said);
//! - an attempt whose outcome is unknown (UNKNOWN, or SENDING left by a crash) is not sent again
//!   before the bounded settle wait is over;
//! - an outage (RETRYING) is retried with exponential backoff (or `Retry-After`) while the
//!   request's delivery window is open, then it fails;
//! - permanent refusals fail at once.

use super::cloud_api::{Delivery, DispatcherSettings, Failure, Outcome};
use std::time::Duration;

/// A request's ledger row, as the planner needs it (times in epoch ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Where it stands.
    pub state: State,
    /// HTTP attempts made so far.
    pub attempts: i32,
    /// UNKNOWN: end of the settle wait; RETRYING: when the next attempt is due.
    pub not_before: Option<i64>,
    /// When the row last changed (a SENDING row: when its attempt started).
    pub updated_at: i64,
    /// Some attempt's outcome was unknown.
    pub unconfirmed: bool,
    /// The last attempt's problem (UNKNOWN/RETRYING).
    pub last: Failure,
}

/// Ledger states (`outbound_dispatch.status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// An attempt started and its outcome was never recorded (the process stopped meanwhile).
    Sending,
    /// An attempt went out and its answer was lost.
    Unknown,
    /// The Cloud API was out; nothing was accepted.
    Retrying,
    /// Finished.
    Done(Delivery),
}

/// The next step for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// It is finished: this is its outcome (record it if the row does not say so yet).
    Done(Delivery),
    /// Make HTTP attempt number `attempt` now.
    Send {
        /// 1 for the first attempt.
        attempt: i32,
    },
    /// Not yet: look again at `until` (epoch ms); later messages of the partition wait too.
    Wait {
        /// Epoch ms.
        until: i64,
        /// Why (for logs).
        why: &'static str,
    },
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The delivery window's end for a request that occurred at `occurred_at` (epoch ms).
pub fn deadline(occurred_at: i64, s: &DispatcherSettings) -> i64 {
    occurred_at.saturating_add(ms(s.delivery_window))
}

/// What to do with a request whose row is `row` (none: never attempted), given the wamid of a
/// status webhook that carried its callback data (`settled_by`), at `now`, with its delivery
/// window ending at `deadline`.
pub fn next(row: Option<&Progress>, settled_by: Option<&str>, now: i64, deadline: i64, s: &DispatcherSettings) -> Next {
    let Some(row) = row else {
        return match settled_by {
            Some(wamid) => Next::Done(Delivery::Sent { wamid: wamid.to_string(), attempts: 0 }),
            None => Next::Send { attempt: 1 },
        };
    };
    if let State::Done(d) = &row.state {
        return Next::Done(d.clone());
    }
    if let Some(wamid) = settled_by {
        return Next::Done(Delivery::Sent { wamid: wamid.to_string(), attempts: row.attempts });
    }
    let (not_before, waiting_for_status) = match row.state {
        // The crashed attempt may have lasted up to the request timeout, then its status is due.
        State::Sending => (row.updated_at.saturating_add(ms(s.request_timeout)).saturating_add(ms(s.settle_wait)), true),
        State::Unknown => (row.not_before.unwrap_or(row.updated_at), true),
        State::Retrying => (row.not_before.unwrap_or(row.updated_at), false),
        State::Done(_) => unreachable!("answered above"),
    };
    if now < not_before {
        return if waiting_for_status {
            Next::Wait { until: not_before.min(now.saturating_add(ms(s.settle_poll))), why: "waiting for the status webhook of an attempt whose answer was lost" }
        } else {
            Next::Wait { until: not_before, why: "backing off: the Cloud API is unavailable" }
        };
    }
    if now >= deadline {
        return Next::Done(expired(row));
    }
    Next::Send { attempt: row.attempts + 1 }
}

/// The failure of a request whose delivery window closed before any attempt succeeded.
fn expired(row: &Progress) -> Delivery {
    let reason = if row.unconfirmed {
        format!(
            "delivery unconfirmed: the delivery window closed after {} attempts, at least one sent without an answer and no status webhook arrived; Meta may have delivered it (last: {})",
            row.attempts, row.last.reason
        )
    } else {
        format!("the Cloud API was unavailable until the delivery window closed ({} attempts; last: {})", row.attempts, row.last.reason)
    };
    Delivery::Failed { http_status: row.last.http_status, error_code: row.last.error_code, reason, attempts: row.attempts, unconfirmed: row.unconfirmed }
}

/// The delay before retrying after outage attempt number `attempt` (1-based): `backoff`
/// doubled per attempt, capped at `backoff_max`, unless the server said `Retry-After`.
pub fn backoff(attempt: i32, retry_after: Option<Duration>, s: &DispatcherSettings) -> Duration {
    if let Some(after) = retry_after {
        return after;
    }
    let doublings = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(20);
    s.backoff.saturating_mul(1 << doublings).min(s.backoff_max)
}

/// The row to record after attempt number `attempt` ended in `outcome` at `now`; `unconfirmed`
/// says whether an earlier attempt's outcome was unknown.
pub fn after(outcome: Outcome, attempt: i32, unconfirmed: bool, now: i64, deadline: i64, s: &DispatcherSettings) -> Progress {
    let row = |state, not_before, unconfirmed, last| Progress { state, attempts: attempt, not_before, updated_at: now, unconfirmed, last };
    match outcome {
        Outcome::Accepted { wamid } => row(State::Done(Delivery::Sent { wamid, attempts: attempt }), None, unconfirmed, Failure::default()),
        Outcome::Permanent(f) => {
            let reason = if unconfirmed { format!("{} (an earlier attempt's answer was lost; Meta may have delivered it)", f.reason) } else { f.reason.clone() };
            let failed = Delivery::Failed { http_status: f.http_status, error_code: f.error_code, reason, attempts: attempt, unconfirmed: false };
            row(State::Done(failed), None, unconfirmed, f)
        }
        Outcome::NotSent { failure, retry_after } => {
            let retrying = row(State::Retrying, None, unconfirmed, failure);
            if now >= deadline {
                return Progress { state: State::Done(expired(&retrying)), ..retrying };
            }
            let due = now.saturating_add(ms(backoff(attempt, retry_after, s))).min(deadline);
            Progress { not_before: Some(due), ..retrying }
        }
        Outcome::Unknown(failure) => row(State::Unknown, Some(now.saturating_add(ms(s.settle_wait))), true, failure),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DispatcherSettings {
        DispatcherSettings {
            backoff: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            request_timeout: Duration::from_secs(15),
            settle_wait: Duration::from_secs(60),
            settle_poll: Duration::from_secs(1),
            delivery_window: Duration::from_secs(24 * 3600),
            ..Default::default()
        }
    }

    const T0: i64 = 1_750_000_000_000;
    const DAY: i64 = 24 * 3600 * 1000;

    fn not_sent(reason: &str) -> Outcome {
        Outcome::NotSent { failure: Failure { http_status: Some(503), error_code: Some(2), reason: reason.into() }, retry_after: None }
    }

    #[test]
    fn first_attempt_then_an_outage_backs_off_exponentially_until_the_window_closes() {
        let s = settings();
        let deadline = deadline(T0, &s);
        assert_eq!(next(None, None, T0, deadline, &s), Next::Send { attempt: 1 });
        let r1 = after(not_sent("HTTP 503"), 1, false, T0, deadline, &s);
        assert_eq!((r1.state.clone(), r1.not_before), (State::Retrying, Some(T0 + 500)));
        assert!(matches!(next(Some(&r1), None, T0 + 499, deadline, &s), Next::Wait { until, .. } if until == T0 + 500));
        assert_eq!(next(Some(&r1), None, T0 + 500, deadline, &s), Next::Send { attempt: 2 });
        let delays: Vec<_> = (1..=9).map(|a| backoff(a, None, &s).as_millis()).collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
        // Retry-After wins over the backoff.
        assert_eq!(backoff(1, Some(Duration::from_secs(45)), &s), Duration::from_secs(45));
        // The next attempt is never due after the window closes; once it has, the outage fails.
        let late = after(not_sent("HTTP 503"), 40, false, T0 + DAY - 100, deadline, &s);
        assert_eq!(late.not_before, Some(deadline));
        let Next::Done(Delivery::Failed { attempts, http_status, error_code, reason, unconfirmed }) = next(Some(&late), None, deadline, deadline, &s) else { panic!("fails at the deadline") };
        assert_eq!((attempts, http_status, error_code, unconfirmed), (40, Some(503), Some(2), false));
        assert!(reason.contains("window closed"), "{reason}");
        let at_deadline = after(not_sent("refused"), 41, false, deadline, deadline, &s);
        assert!(matches!(at_deadline.state, State::Done(Delivery::Failed { attempts: 41, .. })));
    }

    #[test]
    fn an_unknown_outcome_waits_for_its_status_and_is_settled_by_it() {
        let s = settings();
        let deadline = deadline(T0, &s);
        let r = after(Outcome::Unknown(Failure::transport("timed out")), 1, false, T0, deadline, &s);
        assert_eq!((r.state.clone(), r.not_before, r.unconfirmed), (State::Unknown, Some(T0 + 60_000), true));
        // Polls for the status during the settle wait, never sends.
        assert!(matches!(next(Some(&r), None, T0 + 10, deadline, &s), Next::Wait { until, .. } if until == T0 + 1010));
        assert!(matches!(next(Some(&r), None, T0 + 59_500, deadline, &s), Next::Wait { until, .. } if until == T0 + 60_000));
        // The status webhook names the wamid: sent, no second attempt.
        assert_eq!(next(Some(&r), Some("wamid.A"), T0 + 2_000, deadline, &s), Next::Done(Delivery::Sent { wamid: "wamid.A".into(), attempts: 1 }));
        // No status within the wait: one more attempt (same callback data, by construction).
        assert_eq!(next(Some(&r), None, T0 + 60_000, deadline, &s), Next::Send { attempt: 2 });
        // A late status still settles it, even after a resend was refused by an outage.
        let r2 = after(not_sent("refused"), 2, r.unconfirmed, T0 + 60_000, deadline, &s);
        assert!(r2.unconfirmed);
        assert_eq!(next(Some(&r2), Some("wamid.A"), T0 + 60_001, deadline, &s), Next::Done(Delivery::Sent { wamid: "wamid.A".into(), attempts: 2 }));
    }

    #[test]
    fn an_interrupted_send_is_settled_before_it_is_sent_again() {
        let s = settings();
        let deadline = deadline(T0, &s);
        let sending = Progress { state: State::Sending, attempts: 1, not_before: None, updated_at: T0, unconfirmed: false, last: Failure::default() };
        assert!(matches!(next(Some(&sending), None, T0 + 5_000, deadline, &s), Next::Wait { .. }));
        assert_eq!(next(Some(&sending), Some("wamid.B"), T0 + 5_000, deadline, &s), Next::Done(Delivery::Sent { wamid: "wamid.B".into(), attempts: 1 }));
        // Timeout of the crashed attempt + settle wait, then a second attempt.
        assert!(matches!(next(Some(&sending), None, T0 + 74_999, deadline, &s), Next::Wait { .. }));
        assert_eq!(next(Some(&sending), None, T0 + 75_000, deadline, &s), Next::Send { attempt: 2 });
    }

    #[test]
    fn unconfirmed_at_the_window_end_is_not_a_plain_failure() {
        let s = settings();
        let deadline = deadline(T0, &s);
        let r = after(Outcome::Unknown(Failure::transport("timed out")), 3, true, deadline - 10, deadline, &s);
        assert!(matches!(next(Some(&r), None, deadline, deadline, &s), Next::Wait { .. }), "the settle wait runs past the window end");
        let Next::Done(Delivery::Failed { unconfirmed, reason, .. }) = next(Some(&r), None, deadline + 60_000, deadline, &s) else { panic!() };
        assert!(unconfirmed);
        assert!(reason.contains("unconfirmed"), "{reason}");
    }

    #[test]
    fn permanent_errors_fail_at_once_and_finished_rows_answer_from_the_ledger() {
        let s = settings();
        let deadline = deadline(T0, &s);
        let f = Failure { http_status: Some(400), error_code: Some(131047), reason: "re-engagement".into() };
        let r = after(Outcome::Permanent(f), 1, false, T0, deadline, &s);
        let State::Done(d @ Delivery::Failed { .. }) = &r.state else { panic!() };
        assert!(d.outside_window());
        assert_eq!(next(Some(&r), Some("wamid.late"), T0 + 1, deadline, &s), Next::Done(d.clone()), "a finished row is final");
        let ok = after(Outcome::Accepted { wamid: "wamid.C".into() }, 2, false, T0, deadline, &s);
        assert_eq!(next(Some(&ok), None, T0 + 1, deadline, &s), Next::Done(Delivery::Sent { wamid: "wamid.C".into(), attempts: 2 }));
    }
}
