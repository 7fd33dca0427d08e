//! Channel connections of the social inbox (source 002 F.2.7, docs/rules/inbox.md CC1–CC3): the
//! owner's authorisation of an Instagram account or WhatsApp number with its access token (sealed
//! under the master key at the edge, never in plain text on a topic), its refreshes and its
//! disconnection, and the connection's state with its expiry. Keyed
//! `<tenant>|<platform>|<platform_user_id>`, mirroring the source's unique index.

use crate::clock::Tick;
use crate::envelope::Envelope;
use serde::{Deserialize, Serialize};

/// The owner connected (or reconnected, or refreshed) an account with a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionAuthorized {
    pub envelope: Envelope,
    pub command_id: String,
    pub platform: String,
    pub platform_user_id: String,
    /// Sealed under the master key (`s1.master.…`).
    pub access_token: String,
    /// When the token stops working (epoch ms).
    pub expires_at: i64,
}

/// The owner disconnected the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionDisconnected {
    pub envelope: Envelope,
    pub command_id: String,
    pub reason: String,
}

/// A connection as it stands (`connections.table`, compacted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionUpdated {
    pub envelope: Envelope,
    pub command_id: String,
    pub platform: String,
    pub platform_user_id: String,
    /// `active`, `expiring`, `expired` or `disconnected`.
    pub status: String,
    /// Sealed; `None` once disconnected.
    pub access_token: Option<String>,
    pub expires_at: i64,
    /// When the owner is told the token is about to expire.
    pub expiring_at: i64,
    pub updated_at: i64,
}

/// What drives a connection (`connections.commands`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionCommand {
    ConnectionAuthorized(ConnectionAuthorized),
    ConnectionDisconnected(ConnectionDisconnected),
    Tick(Tick),
}

/// What a connection decided (`connections.table`, `notifications.inputs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionOutput {
    ConnectionUpdated(ConnectionUpdated),
    NotificationRaised(crate::social::NotificationRaised),
}

crate::stream_event!(ConnectionCommand { ConnectionAuthorized, ConnectionDisconnected, Tick } tick Tick);
crate::stream_event!(ConnectionOutput { ConnectionUpdated, NotificationRaised });

/// The connection key.
pub fn connection_key(tenant: &str, platform: &str, platform_user_id: &str) -> String {
    format!("{tenant}|{platform}|{platform_user_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::tests::round_trip;

    #[test]
    fn connection_records_round_trip_through_avro() {
        let envelope = Envelope::external("shop", "c1", 5);
        let c = ConnectionCommand::ConnectionAuthorized(ConnectionAuthorized {
            envelope: envelope.clone(),
            command_id: "c1".into(),
            platform: "instagram".into(),
            platform_user_id: "1784".into(),
            access_token: "s1.master.abc".into(),
            expires_at: 99,
        });
        round_trip(&["souk.connections.ConnectionAuthorized", "souk.connections.ConnectionDisconnected", "souk.clock.Tick"], &c);
        let u = ConnectionUpdated {
            envelope,
            command_id: "c1".into(),
            platform: "instagram".into(),
            platform_user_id: "1784".into(),
            status: "active".into(),
            access_token: Some("s1.master.abc".into()),
            expires_at: 99,
            expiring_at: 50,
            updated_at: 5,
        };
        round_trip(&["souk.connections.ConnectionUpdated"], &u);
    }
}
