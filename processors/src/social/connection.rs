//! A channel connection (rules CC1–CC3, source 002 F.2.7): one keyed state machine per
//! `<tenant>|<platform>|<platform_user_id>`.
//!
//! - CC1 an authorisation (the owner's OAuth result: a sealed token and its expiry) makes the
//!   connection `active`; a later one refreshes it (any state, also after a disconnection);
//! - CC2 on stream time, [`EXPIRY_NOTICE`] before the token expires it turns `expiring` and the
//!   owner is told (`token_expiring`, medium); at expiry it turns `expired` and the owner is told
//!   again (`token_expired`, high: replies cannot be sent until they reconnect);
//! - CC3 a disconnection forgets the token and cancels the timers.
//!
//! The token stays sealed under the master key throughout: the state and `connections.table`
//! carry it only as `s1.master.…`, for the dispatcher to open.

use serde::{Deserialize, Serialize};
use souk_runtime::{Ctx, Processor, Rejection};
use souk_schemas::connections::{ConnectionAuthorized, ConnectionCommand, ConnectionOutput, ConnectionUpdated};
use souk_schemas::social::NotificationRaised;

/// The processor's name in topology.toml.
pub const NAME: &str = "channel-connection";
/// How long before expiry the owner is told (Meta's long-lived tokens last 60 days).
pub const EXPIRY_NOTICE_MS: i64 = 7 * 24 * 3_600_000;
const EXPIRING_TIMER: &str = "expiring";
const EXPIRED_TIMER: &str = "expired";

/// A connection's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionState {
    /// `active`, `expiring`, `expired` or `disconnected`; empty for a key never authorised.
    pub status: String,
    /// The sealed token.
    pub access_token: Option<String>,
    /// When it expires (ms).
    pub expires_at: i64,
    /// The command last applied.
    pub command_id: String,
}

/// The connection state machine; stateless itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChannelConnection;

impl Processor for ChannelConnection {
    type State = ConnectionState;
    type Input = ConnectionCommand;
    type Output = ConnectionOutput;

    fn name(&self) -> &'static str {
        NAME
    }

    fn handle(&self, state: &mut ConnectionState, event: &ConnectionCommand, ctx: &mut Ctx<ConnectionOutput>) -> Result<(), Rejection> {
        match event {
            ConnectionCommand::Tick(_) => Ok(()),
            ConnectionCommand::ConnectionAuthorized(a) => authorize(state, a, ctx),
            ConnectionCommand::ConnectionDisconnected(d) => {
                // Disconnecting what was never connected (or already is) changes nothing.
                if !state.status.is_empty() && state.status != "disconnected" {
                    state.status = "disconnected".into();
                    state.access_token = None;
                    state.command_id = d.command_id.clone();
                    ctx.cancel(EXPIRING_TIMER);
                    ctx.cancel(EXPIRED_TIMER);
                    snapshot(state, ctx);
                }
                Ok(())
            }
        }
    }

    fn on_timer(&self, state: &mut ConnectionState, timer_id: &str, ctx: &mut Ctx<ConnectionOutput>) {
        let status = match timer_id {
            EXPIRING_TIMER if state.status == "active" => "expiring",
            EXPIRED_TIMER if matches!(state.status.as_str(), "active" | "expiring") => "expired",
            _ => return,
        };
        state.status = status.into();
        tell_owner(state, ctx);
        snapshot(state, ctx);
    }

    fn output_name(&self, output: &ConnectionOutput) -> &'static str {
        match output {
            ConnectionOutput::ConnectionUpdated(_) => "table",
            ConnectionOutput::NotificationRaised(_) => "notifications",
        }
    }
}

/// The platform and account of a key `<tenant>|<platform>|<account>`.
fn parts(key: &str) -> (&str, &str) {
    let mut it = key.splitn(3, '|');
    let _tenant = it.next();
    (it.next().unwrap_or_default(), it.next().unwrap_or_default())
}

/// CC1: active with the new token; the timers move to its expiry.
fn authorize(state: &mut ConnectionState, a: &ConnectionAuthorized, ctx: &mut Ctx<ConnectionOutput>) -> Result<(), Rejection> {
    let (platform, account) = parts(ctx.key());
    if platform != a.platform || account != a.platform_user_id {
        return Err(Rejection::new("KEY_MISMATCH", format!("{}|{} on key {:?}", a.platform, a.platform_user_id, ctx.key())));
    }
    if !a.access_token.starts_with("s1.master.") {
        return Err(Rejection::new("TOKEN_NOT_SEALED", "an access token must be sealed under the master key before it reaches a topic"));
    }
    if state.command_id == a.command_id {
        return Ok(());
    }
    state.status = if a.expires_at <= ctx.now() {
        "expired"
    } else if a.expires_at - EXPIRY_NOTICE_MS <= ctx.now() {
        "expiring"
    } else {
        "active"
    }
    .into();
    state.access_token = Some(a.access_token.clone());
    state.expires_at = a.expires_at;
    state.command_id = a.command_id.clone();
    ctx.cancel(EXPIRING_TIMER);
    ctx.cancel(EXPIRED_TIMER);
    if state.status == "active" {
        ctx.schedule(EXPIRING_TIMER, a.expires_at - EXPIRY_NOTICE_MS);
    }
    if state.status != "expired" {
        ctx.schedule(EXPIRED_TIMER, a.expires_at);
    }
    // A token that is already close to (or past) its expiry is told at once.
    tell_owner(state, ctx);
    snapshot(state, ctx);
    Ok(())
}

/// CC2: the owner hears that the connection is `expiring` or `expired`.
fn tell_owner(state: &ConnectionState, ctx: &mut Ctx<ConnectionOutput>) {
    let (kind, priority, title, body) = match state.status.as_str() {
        "expiring" => ("token_expiring", "medium", "expires in less than 7 days", "Reconnect it before then so replies keep going out."),
        "expired" => ("token_expired", "high", "has expired", "Replies on it cannot be sent until you reconnect it."),
        _ => return,
    };
    let key = ctx.key().to_string();
    let (platform, account) = parts(&key);
    let envelope = ctx.envelope();
    let raised = NotificationRaised {
        notification_id: format!("{kind}-{}", envelope.event_id),
        envelope,
        kind: kind.into(),
        priority: priority.into(),
        title: format!("Your {platform} connection {title}"),
        body: format!("The {platform} account {account} {title}. {body}"),
        preview: None,
        subject: None,
        context: serde_json::json!({ "platform": platform, "platform_user_id": account, "expires_at": state.expires_at }).to_string(),
        link: None,
    };
    let tenant = key.split('|').next().unwrap_or_default().to_string();
    ctx.emit(tenant, ConnectionOutput::NotificationRaised(raised));
}

fn snapshot(state: &ConnectionState, ctx: &mut Ctx<ConnectionOutput>) {
    let key = ctx.key().to_string();
    let (platform, account) = parts(&key);
    let updated = ConnectionUpdated {
        envelope: ctx.envelope(),
        command_id: state.command_id.clone(),
        platform: platform.to_string(),
        platform_user_id: account.to_string(),
        status: state.status.clone(),
        access_token: state.access_token.clone(),
        expires_at: state.expires_at,
        expiring_at: state.expires_at - EXPIRY_NOTICE_MS,
        updated_at: ctx.now(),
    };
    ctx.emit(key.clone(), ConnectionOutput::ConnectionUpdated(updated));
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use souk_runtime::TestDriver;
    use souk_schemas::clock::Tick;
    use souk_schemas::connections::ConnectionDisconnected;
    use souk_schemas::Envelope;

    const KEY: &str = "shop|instagram|1784";
    const T0: i64 = 1_764_000_000_000;
    const DAY: i64 = 24 * 3_600_000;

    fn authorize(id: &str, at: i64, expires_at: i64) -> ConnectionCommand {
        ConnectionCommand::ConnectionAuthorized(ConnectionAuthorized {
            envelope: Envelope::external("shop", id, at),
            command_id: id.into(),
            platform: "instagram".into(),
            platform_user_id: "1784".into(),
            access_token: format!("s1.master.{id}"),
            expires_at,
        })
    }

    fn tick(d: &mut TestDriver<ChannelConnection>, at: i64) -> Vec<souk_runtime::processor::Emitted<ConnectionOutput>> {
        d.feed("connections.commands", KEY, ConnectionCommand::Tick(Tick { envelope: Envelope::external(souk_schemas::clock::ANY_TENANT, &format!("tick-{at}"), at), partition: 0 }))
    }

    fn kinds(out: &[souk_runtime::processor::Emitted<ConnectionOutput>]) -> Vec<String> {
        out.iter().filter_map(|e| if let ConnectionOutput::NotificationRaised(n) = &e.event { Some(format!("{}:{}", n.kind, n.priority)) } else { None }).collect()
    }

    /// Days after a 60-day token was authorised ⇒ status and what the owner was told that day.
    #[rstest]
    #[case::fresh(1, "active", &[])]
    #[case::a_week_before(54, "expiring", &["token_expiring:medium"])]
    #[case::expired(60, "expired", &["token_expiring:medium", "token_expired:high"])]
    fn token_expiry_on_stream_time(#[case] days: i64, #[case] status: &str, #[case] told: &[&str]) {
        let mut d = TestDriver::new(ChannelConnection, 1);
        d.feed("connections.commands", KEY, authorize("c1", T0, T0 + 60 * DAY));
        let mut all = vec![];
        for day in 1..=days {
            all.extend(kinds(&tick(&mut d, T0 + day * DAY)));
        }
        assert_eq!(d.state(KEY).status, status);
        assert_eq!(all, told.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    }

    #[test]
    fn a_refresh_moves_the_timers_and_a_disconnection_forgets_the_token() {
        let mut d = TestDriver::new(ChannelConnection, 1);
        d.feed("connections.commands", KEY, authorize("c1", T0, T0 + 60 * DAY));
        tick(&mut d, T0 + 54 * DAY);
        assert_eq!(d.state(KEY).status, "expiring");
        d.feed("connections.commands", KEY, authorize("c2", T0 + 55 * DAY, T0 + 115 * DAY));
        assert_eq!(d.state(KEY).status, "active");
        assert!(kinds(&tick(&mut d, T0 + 61 * DAY)).is_empty(), "the old expiry no longer fires");
        let out = d.feed(
            "connections.commands",
            KEY,
            ConnectionCommand::ConnectionDisconnected(ConnectionDisconnected { envelope: Envelope::external("shop", "c3", T0 + 62 * DAY), command_id: "c3".into(), reason: "owner".into() }),
        );
        let ConnectionOutput::ConnectionUpdated(u) = &out[0].event else { panic!("{out:?}") };
        assert_eq!((u.status.as_str(), u.access_token.as_deref()), ("disconnected", None));
        assert!(kinds(&tick(&mut d, T0 + 120 * DAY)).is_empty(), "no timers after a disconnection");
    }

    #[test]
    fn a_token_close_to_expiry_is_told_at_once() {
        let mut d = TestDriver::new(ChannelConnection, 1);
        let out = d.feed("connections.commands", KEY, authorize("c1", T0, T0 + 3 * DAY));
        assert_eq!((d.state(KEY).status.as_str(), kinds(&out)), ("expiring", vec!["token_expiring:medium".to_string()]));
        assert_eq!(kinds(&tick(&mut d, T0 + 3 * DAY)), ["token_expired:high"]);
    }

    #[test]
    fn a_plain_token_never_enters_the_log() {
        let mut d = TestDriver::new(ChannelConnection, 1);
        let mut plain = authorize("c1", T0, T0 + DAY);
        if let ConnectionCommand::ConnectionAuthorized(a) = &mut plain {
            a.access_token = "IGQVJ-plain".into();
        }
        assert!(d.feed("connections.commands", KEY, plain).is_empty());
        assert_eq!(d.rejections.last().map(|r| r.3.code.clone()).as_deref(), Some("TOKEN_NOT_SEALED"));
    }
}
