//! WhatsApp customers of a social-inbox tenant (`whatsapp_inbox = true` in tenants.toml; rules
//! SC2): the Cloud API delivery is parsed and verified as for textile ordering, then each message
//! becomes a sealed `CustomerMessageReceived` on the inbox's conversation (platform `whatsapp`,
//! connection = the business number) instead of a `whatsapp.inbound` record, and each delivery or
//! read receipt a `SocialStatusReceived`. Nothing of such a tenant's customers reaches the textile
//! topics in plain text.

use super::publisher::{GatewayEvent, Publish};
use super::social::{PlainItem, PlainMessage, PlainStatus};
use souk_runtime::tenants::Tenants;

/// The inbox item a parsed WhatsApp record is, when its tenant answers WhatsApp in the inbox.
/// `None`: the record stays on the textile path. A `sent` or `failed` receipt of the inbox is
/// dropped (`Some(None)`): the dispatcher already recorded the send's outcome from the API's answer.
pub(super) fn inbox_item(tenants: &Tenants, record: &Publish) -> Option<Option<PlainItem>> {
    let tenant = tenants.get(&record.event.envelope().tenant_id).filter(|t| t.whatsapp_inbox)?;
    match &record.event {
        GatewayEvent::Inbound(m) => Some(Some(PlainItem::Message(PlainMessage {
            tenant: tenant.id.clone(),
            platform: "whatsapp",
            connection_id: m.phone_number_id.clone(),
            message_id: m.wamid.clone(),
            sender_id: m.wa_id.clone(),
            username: m.profile_name.clone(),
            // A tapped button answers with its title.
            text: m.text.clone().unwrap_or_default(),
            message_type: m.message_type.clone(),
            at: m.sent_at,
        }))),
        GatewayEvent::Status(s) => {
            let status = match s.status.as_str() {
                "delivered" => "delivered",
                "read" => "read",
                _ => return Some(None),
            };
            Some(Some(PlainItem::Status(PlainStatus {
                tenant: tenant.id.clone(),
                platform: "whatsapp",
                customer_id: s.recipient_id.clone(),
                status,
                message_ids: vec![s.wamid.clone()],
                watermark: None,
                at: s.status_at,
            })))
        }
        _ => None,
    }
}
