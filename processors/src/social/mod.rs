//! The social inbox's keyed state machines (docs/rules/inbox.md): one conversation per customer
//! and platform (`conversation`), one notification feed per tenant (`notifications`), and one
//! channel connection per account (`connection`, whose token is sealed under the master key). All
//! carry personal data only as sealed strings they never open (rules PR1): deciding needs the
//! draft's confidence and the owner's decision, never the words.

pub mod connection;
pub mod conversation;
pub mod notifications;

pub use connection::ChannelConnection;
pub use conversation::ConversationProcessor;
pub use notifications::NotificationFeed;
