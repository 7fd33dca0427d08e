//! The stages of multi-vendor orchestration (docs/rules/orchestration.md): [`chat`] reads a user's
//! bundle message once and logs what it asks for; [`resourcing`] answers a negotiation's request
//! for a replacement from the partners and products tables. Both are stateless enrichment steps
//! whose results are events, so a replay of the negotiation processor never reads or searches again.
//! [`narrator`] renders a standing intent's narrative ledger entries for the user's thread, once.

pub mod chat;
pub mod narrator;
pub mod resourcing;
