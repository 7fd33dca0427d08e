//! The social inbox's stages (docs/rules/inbox.md): `social-reply` drafts every answer
//! ([`reply`], offline by [`drafter`]). The conversation processor decides what a draft means;
//! the stage only reads and writes sealed text through the key ring.

pub mod availability;
pub mod drafter;
pub mod reply;
pub mod rules;
