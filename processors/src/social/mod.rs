//! The social inbox's keyed state machines (docs/rules/inbox.md): one conversation per customer
//! and platform (`conversation`), and one notification feed per tenant (`notifications`). Both
//! carry personal data only as sealed strings they never open (rules PR1): deciding needs the
//! draft's confidence and the owner's decision, never the words.

pub mod conversation;
pub mod notifications;

pub use conversation::ConversationProcessor;
pub use notifications::NotificationFeed;
