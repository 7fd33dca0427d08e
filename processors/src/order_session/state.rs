//! The per-customer state of the order-session processor: at most one active session (A11), a
//! bounded memory of processed wamids (dedup of Meta redeliveries that got a new event id) and a
//! bounded memory of closed orders (so an owner command for an old order is answered precisely).
//! Everything here goes to the changelog as JSON, so it is plain data with serde.

use serde::{Deserialize, Serialize};
use souk_schemas::orders::OrderLine;
use std::collections::{BTreeSet, VecDeque};

/// How many processed wamids a customer key remembers.
pub const WAMIDS_REMEMBERED: usize = 64;
/// How many closed orders a customer key remembers.
pub const CLOSED_ORDERS_REMEMBERED: usize = 16;

/// Item status of a line (`OrderLine.status`), kept as the wire strings.
pub mod line_status {
    /// The customer still has to decide (partial or out of stock).
    pub const NEGOTIATING: &str = "NEGOTIATING";
    /// Part of the order.
    pub const ACCEPTED: &str = "ACCEPTED";
    /// Removed by the customer.
    pub const CANCELLED: &str = "CANCELLED";
    /// Superseded by the line named in `replaced_by`.
    pub const REPLACED: &str = "REPLACED";
}

/// Stock status of a line (`OrderLine.inventory_status`).
pub mod inventory_status {
    /// Available meters cover the line.
    pub const FULL_AVAILABLE: &str = "FULL_AVAILABLE";
    /// Some, but not all, meters are available.
    pub const PARTIAL_AVAILABLE: &str = "PARTIAL_AVAILABLE";
    /// Nothing available.
    pub const OUT_OF_STOCK: &str = "OUT_OF_STOCK";
}

/// Status of a line's current hold (`OrderLine.hold_status`).
pub mod hold_status {
    /// Reserve sent, no answer yet.
    pub const PENDING: &str = "PENDING";
    /// The pool holds the meters.
    pub const HELD: &str = "HELD";
    /// The pool refused the reserve.
    pub const REJECTED: &str = "REJECTED";
    /// Deducted from stock.
    pub const COMMITTED: &str = "COMMITTED";
    /// Given back to the pool.
    pub const RELEASED: &str = "RELEASED";
    /// The hold reached its TTL.
    pub const EXPIRED: &str = "EXPIRED";
}

/// Workflow state of a session (rules S003.2 + A1), including the internal saga states in which the
/// session waits for the inventory pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkflowState {
    /// Some line still needs a customer decision.
    CustomerNegotiation,
    /// Every line is resolved; the customer sees the summary.
    FinalCustomerConfirmation,
    /// The customer confirmed; holds are being placed.
    Reserving,
    /// Every line is held; the owner decides.
    WaitingOwnerConfirmation,
    /// The owner approved and some holds had expired; they are being placed again.
    ApprovalReserving,
    /// The owner approved; holds are being committed.
    Executing,
    /// Approved and executed (terminal).
    OrderCompleted,
    /// The owner rejected (terminal).
    OrderRejected,
    /// The customer cancelled everything (terminal, no financial effect).
    OrderCancelled,
}

impl WorkflowState {
    /// The wire name (`OrderUpdated.state`).
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowState::CustomerNegotiation => "CUSTOMER_NEGOTIATION",
            WorkflowState::FinalCustomerConfirmation => "FINAL_CUSTOMER_CONFIRMATION",
            WorkflowState::Reserving => "RESERVING",
            WorkflowState::WaitingOwnerConfirmation => "WAITING_OWNER_CONFIRMATION",
            WorkflowState::ApprovalReserving => "APPROVAL_RESERVING",
            WorkflowState::Executing => "EXECUTING",
            WorkflowState::OrderCompleted => "ORDER_COMPLETED",
            WorkflowState::OrderRejected => "ORDER_REJECTED",
            WorkflowState::OrderCancelled => "ORDER_CANCELLED",
        }
    }

    /// A terminal state ends the session; the next customer message opens a new one (A11).
    pub fn is_terminal(self) -> bool {
        matches!(self, WorkflowState::OrderCompleted | WorkflowState::OrderRejected | WorkflowState::OrderCancelled)
    }

    /// States in which a customer message may change the order (elsewhere it gets a status reply).
    pub fn accepts_customer_changes(self) -> bool {
        matches!(self, WorkflowState::CustomerNegotiation | WorkflowState::FinalCustomerConfirmation)
    }
}

/// The owner's approval while its reserves/commits are in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalInFlight {
    /// The approve command, answered with a `CommandOutcome` when the saga ends.
    pub command_id: String,
    /// Lines whose expired holds this approval placed again (released if the approval fails).
    pub rereserved_line_ids: Vec<String>,
}

/// One order session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// UUIDv5 of the message that opened the session.
    pub order_id: String,
    /// Customer wa_id.
    pub customer: String,
    /// Workflow state.
    pub state: WorkflowState,
    /// Stream time when the session opened.
    pub opened_at: i64,
    /// Every line ever added, in order (REPLACED/CANCELLED included).
    pub lines: Vec<OrderLine>,
    /// Customer turns in the current negotiation round (A7).
    pub negotiation_turns: i32,
    /// Consecutive messages the NLU could not classify (A7, B6).
    pub unknown_streak: i32,
    /// Lines minted so far; numbers the next line id.
    pub lines_minted: u32,
    /// Escalation kinds already raised for this session (each at most once).
    pub escalated: BTreeSet<String>,
    /// The approval in flight, if any.
    pub approval: Option<ApprovalInFlight>,
}

/// An order that reached a terminal state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedOrder {
    /// The order.
    pub order_id: String,
    /// Its terminal state.
    pub state: WorkflowState,
}

/// The state of one customer key `<tenant>|<wa_id>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// The active session, if any (terminal sessions move to `closed_orders`).
    pub session: Option<Session>,
    /// Unclassifiable messages in a row while no session is active.
    pub idle_unknown_streak: i32,
    /// Whether the idle streak already escalated (once until a message is understood).
    pub idle_escalated: bool,
    /// The last processed wamids, oldest first, bounded by [`WAMIDS_REMEMBERED`].
    pub recent_wamids: VecDeque<String>,
    /// The last closed orders, oldest first, bounded by [`CLOSED_ORDERS_REMEMBERED`].
    pub closed_orders: VecDeque<ClosedOrder>,
}

impl SessionState {
    /// Records `wamid` as processed; false if it already was (the message must be ignored).
    pub fn first_sight_of(&mut self, wamid: &str) -> bool {
        if self.recent_wamids.iter().any(|w| w == wamid) {
            return false;
        }
        push_bounded(&mut self.recent_wamids, wamid.to_string(), WAMIDS_REMEMBERED);
        true
    }

    /// Remembers a session that reached a terminal state and clears the active slot.
    pub fn close(&mut self, session: &Session) {
        let closed = ClosedOrder { order_id: session.order_id.clone(), state: session.state };
        push_bounded(&mut self.closed_orders, closed, CLOSED_ORDERS_REMEMBERED);
        self.session = None;
        self.idle_unknown_streak = 0;
        self.idle_escalated = false;
    }

    /// The terminal state of a remembered closed order.
    pub fn closed_state(&self, order_id: &str) -> Option<WorkflowState> {
        self.closed_orders.iter().rev().find(|c| c.order_id == order_id).map(|c| c.state)
    }
}

/// Appends to a FIFO memory, forgetting the oldest entries beyond `limit`.
fn push_bounded<T>(memory: &mut VecDeque<T>, item: T, limit: usize) {
    memory.push_back(item);
    while memory.len() > limit {
        memory.pop_front();
    }
}

impl Session {
    /// The line holding `hold_id`, if the session knows that hold.
    pub fn line_of_hold(&self, hold_id: &str) -> Option<usize> {
        self.lines.iter().position(|l| l.hold_id.as_deref() == Some(hold_id))
    }

    /// Moves to `next`; entering negotiation from elsewhere starts a new round of turns (A7).
    pub fn set_state(&mut self, next: WorkflowState) {
        if next == WorkflowState::CustomerNegotiation && self.state != next {
            self.negotiation_turns = 0;
        }
        self.state = next;
    }

    /// Positions of ACCEPTED lines, in order.
    pub fn accepted_positions(&self) -> Vec<usize> {
        (0..self.lines.len()).filter(|&i| self.lines[i].status == line_status::ACCEPTED).collect()
    }
}
