//! What the session says to the customer: plain, short English with exactly one call to action per
//! reply (A12), as reply buttons whose ids are the contract with the NLU:
//! `confirm` / `edit` / `cancel_order` (summary), `accept_available:<n>` / `cancel_item:<n>` /
//! `alternatives:<n>` (negotiation about item n), `replace:<n>:<material>|<color>` (an alternative).
//! At most 3 buttons, titles at most 20 characters.

use super::lines::{active_positions, amount, subtotal};
use super::state::{inventory_status, line_status, WorkflowState};
use rust_decimal::Decimal;
use souk_schemas::orders::OrderLine;
use souk_schemas::whatsapp::ReplyButton;

/// WhatsApp's limit on reply buttons.
pub const MAX_BUTTONS: usize = 3;
/// WhatsApp's limit on a button title, in characters.
pub const MAX_TITLE_CHARS: usize = 20;

/// One reply to the customer, before it gets an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// What it is for (`OutboundMessageRequested.purpose`).
    pub purpose: &'static str,
    /// The text.
    pub text: String,
    /// Reply buttons (one call to action).
    pub buttons: Vec<ReplyButton>,
}

impl Reply {
    /// A reply without buttons.
    pub fn plain(purpose: &'static str, text: impl Into<String>) -> Reply {
        Reply { purpose, text: text.into(), buttons: Vec::new() }
    }

    /// The same reply asking `question` instead of what it asked: a question the session needs
    /// answered first (the meters of a new item, which item is meant) replaces the reply's own call
    /// to action — its buttons and its prompt, the last line of every reply with buttons — so the
    /// customer is asked one thing (A12); the rest (the order so far) stays, as information.
    pub fn asking(mut self, purpose: &'static str, question: &str) -> Reply {
        if !self.buttons.is_empty() {
            self.text = self.text.rsplit_once('\n').map_or_else(String::new, |(body, _prompt)| body.to_string());
            self.buttons.clear();
        }
        self.purpose = purpose;
        self.text = if self.text.is_empty() { question.to_string() } else { format!("{}\n{question}", self.text) };
        self
    }

    /// The same reply with `note` as its first paragraph.
    pub fn after(mut self, note: &str) -> Reply {
        if !note.is_empty() {
            self.text = format!("{note}\n{}", self.text);
        }
        self
    }
}

/// A reply button; the title is cut to [`MAX_TITLE_CHARS`].
fn button(id: String, title: &str) -> ReplyButton {
    ReplyButton { id, title: title.chars().take(MAX_TITLE_CHARS).collect() }
}

/// Meters without trailing zeros: `20`, `12.5`.
pub fn meters(m: Decimal) -> String {
    m.normalize().to_string()
}

/// Rupees with 2 decimals: `₹120.00`.
pub fn money(amount: Decimal) -> String {
    format!("₹{:.2}", amount)
}

/// `1. 20 m blue cotton @ ₹120.00/m` (price only when known).
pub fn line_label(number: usize, line: &OrderLine) -> String {
    let price = line.price_per_meter.map(|p| format!(" @ {}/m", money(p))).unwrap_or_default();
    format!("{number}. {} m {} {}{price}", meters(line.normalized_meters), line.color, line.material)
}

/// The order summary: accepted lines only (never out-of-stock or cancelled ones, rules BUG-1), with
/// subtotals when priced; Confirm / Edit / Cancel.
pub fn summary(lines: &[OrderLine]) -> Reply {
    let mut text = String::from("Your order:");
    for (n, &p) in active_positions(lines).iter().enumerate() {
        let line = &lines[p];
        if line.status != line_status::ACCEPTED {
            continue;
        }
        text.push('\n');
        text.push_str(&line_label(n + 1, line));
        if let Some(price) = line.price_per_meter {
            text.push_str(&format!(" = {}", money(amount(line.normalized_meters, price))));
        }
    }
    if let Some(total) = subtotal(lines) {
        text.push_str(&format!("\nSubtotal: {}", money(total)));
    }
    text.push_str("\nConfirm to send it to the shop for approval.");
    Reply { purpose: "summary", text, buttons: vec![button("confirm".into(), "Confirm"), button("edit".into(), "Edit"), button("cancel_order".into(), "Cancel")] }
}

/// How one active line stands, as the negotiation lists it.
fn standing(line: &OrderLine) -> String {
    match line.inventory_status.as_deref() {
        _ if line.status == line_status::ACCEPTED => "ok".to_string(),
        Some(inventory_status::PARTIAL_AVAILABLE) => {
            format!("only {} m available", meters(line.available_meters.unwrap_or_default()))
        }
        _ => "out of stock".to_string(),
    }
}

/// The negotiation reply: every active line with its standing, then one question about the first
/// unresolved line (accept what is available / see alternatives, or remove it).
pub fn negotiation(lines: &[OrderLine]) -> Reply {
    let active = active_positions(lines);
    let mut text = String::from("Your order so far:");
    for (n, &p) in active.iter().enumerate() {
        text.push_str(&format!("\n{} - {}", line_label(n + 1, &lines[p]), standing(&lines[p])));
    }
    let Some((n, line)) = active.iter().enumerate().map(|(n, &p)| (n + 1, &lines[p])).find(|(_, l)| l.status == line_status::NEGOTIATING) else {
        return Reply::plain("negotiation", text);
    };
    let what = format!("{} {}", line.color, line.material);
    let mut buttons = Vec::new();
    if line.inventory_status.as_deref() == Some(inventory_status::PARTIAL_AVAILABLE) {
        let available = meters(line.available_meters.unwrap_or_default());
        text.push_str(&format!("\nItem {n}: only {available} m of {what} is available. Take {available} m or remove it?"));
        buttons.push(button(format!("accept_available:{n}"), &format!("Take {available} m")));
    } else if line.alternatives.is_empty() {
        text.push_str(&format!("\nItem {n}: {what} is out of stock. Remove it, or tell me what to take instead."));
    } else {
        text.push_str(&format!("\nItem {n}: {what} is out of stock. See alternatives or remove it?"));
        buttons.push(button(format!("alternatives:{n}"), "See alternatives"));
    }
    buttons.push(button(format!("cancel_item:{n}"), "Remove item"));
    Reply { purpose: "negotiation", text, buttons }
}

/// The alternatives of out-of-stock item `number` (A9: at most 3, already ranked by the catalog).
pub fn alternatives(number: usize, line: &OrderLine) -> Reply {
    let mut text = format!("{} {} is out of stock. You could take instead:", line.color, line.material);
    let mut buttons = Vec::new();
    for alternative in line.alternatives.iter().take(MAX_BUTTONS) {
        let price = alternative.price_per_meter.map(|p| format!(" @ {}/m", money(p))).unwrap_or_default();
        text.push_str(&format!("\n- {} {}{price}", alternative.color, alternative.material));
        buttons.push(button(format!("replace:{number}:{}|{}", alternative.material, alternative.color), &format!("{} {}", alternative.color, alternative.material)));
    }
    text.push_str(&format!("\nPick one, or reply \"remove {number}\" to drop it."));
    Reply { purpose: "alternatives", text, buttons }
}

/// The note for a confirm while some items are unresolved (rules BUG-1): what still needs a decision.
pub fn still_open(lines: &[OrderLine]) -> String {
    let open: Vec<String> = active_positions(lines)
        .iter()
        .enumerate()
        .filter(|(_, &p)| lines[p].status == line_status::NEGOTIATING)
        .map(|(n, &p)| format!("item {} ({} {})", n + 1, lines[p].color, lines[p].material))
        .collect();
    format!("Before I can confirm, please decide on {}.", open.join(", "))
}

/// Sent once every line is held: the order waits for the owner.
pub fn sent_for_approval(lines: &[OrderLine]) -> Reply {
    let total = subtotal(lines).map(|t| format!(" (subtotal {})", money(t))).unwrap_or_default();
    Reply::plain("approval_pending", format!("Thank you! Your order{total} is reserved and sent to the owner for approval. We will message you when it is approved."))
}

/// A status reply while the customer cannot change the order (A8).
pub fn status(state: WorkflowState) -> Reply {
    let text = match state {
        WorkflowState::Reserving => "We are reserving your items now. You will get an update in a moment.",
        WorkflowState::ApprovalReserving | WorkflowState::Executing => "Your order is being approved. You will get your invoice shortly.",
        _ => "Your order is waiting for the owner's approval. It can't be changed now; we will message you as soon as it is approved.",
    };
    Reply::plain("status", text)
}

/// The customer cancelled everything.
pub fn cancelled() -> Reply {
    Reply::plain("cancelled", "Your order is cancelled. Send a new message any time to order again.")
}

/// The owner rejected the order.
pub fn rejected(reason: Option<&str>) -> Reply {
    let why = reason.filter(|r| !r.trim().is_empty()).map(|r| format!(" Reason: {r}.")).unwrap_or_default();
    Reply::plain("rejected", format!("Sorry, the shop could not accept your order.{why} Nothing will be charged."))
}

/// No session and nothing to order: how to start.
pub fn help() -> Reply {
    Reply::plain("help", "Hello! To order, send the meters, color and material, for example \"20m blue cotton\".")
}

/// The first message the NLU could not classify (B6: ask once).
pub fn clarify() -> Reply {
    Reply::plain("clarify", "Sorry, I didn't understand. Could you say it again, for example \"20m blue cotton\" or \"confirm\"?")
}

/// The second one in a row: a person takes over.
pub fn handover() -> Reply {
    Reply::plain("handover", "I'm still not sure what you need, so I've asked someone from the shop to reply to you.")
}

/// Appended when the negotiation bound escalated (A7).
pub const OWNER_ASKED: &str = "I've also asked the shop owner to help you finish this order.";

/// Lines whose quantity could not be turned into meters.
pub fn missing_meters(items: &[String]) -> String {
    format!("How many meters of {} do you need?", items.join(" and "))
}

/// An edit with nothing to change.
pub fn ask_edit() -> Reply {
    Reply::plain("ask_edit", "What would you like to change? For example \"make item 1 30m\" or \"add 10m red silk\".")
}
