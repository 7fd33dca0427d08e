//! One call to action per reply (rules A12, F3.23), counted the way a customer reads a
//! reply: every question (a sentence ending in "?") asks something, every instruction (a sentence
//! opening with a verb such as "Confirm…", "Pick one…", "Remove it…") asks something, and reply
//! buttons are the way to answer the one thing asked — a reply whose text asks nothing still asks
//! through its buttons. Shared by the processor tests and the end-to-end tests (which include this
//! file by path), so both judge replies by the same rule.
#![allow(dead_code)]

use souk_schemas::whatsapp::OutboundMessageRequested;

/// WhatsApp's limits on reply buttons.
pub const MAX_BUTTONS: usize = 3;
/// WhatsApp's limit on a button title, in characters.
pub const MAX_TITLE_CHARS: usize = 20;

/// Words that open an instruction to the customer.
const IMPERATIVES: &[&str] = &["add", "choose", "confirm", "pick", "remove", "reply", "say", "select", "send", "take", "tap", "tell", "type", "use"];

/// The sentences of `text`: lines, split after `.`, `?` or `!` followed by a space.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut current = String::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            current.push(c);
            if matches!(c, '.' | '?' | '!') && chars.peek().is_some_and(|n| n.is_whitespace()) {
                out.push(std::mem::take(&mut current).trim().to_string());
            }
        }
        out.push(current.trim().to_string());
    }
    out.retain(|s| !s.is_empty());
    out
}

/// Whether a sentence asks the customer something: a question or an instruction.
pub fn asks(sentence: &str) -> bool {
    let first: String = sentence.trim_start_matches(|c: char| !c.is_alphabetic()).chars().take_while(|c| c.is_alphabetic()).collect::<String>().to_lowercase();
    sentence.trim_end_matches(['"', '\'', ')']).ends_with('?') || IMPERATIVES.contains(&first.as_str())
}

/// How many calls to action `text` with `buttons` reply buttons makes.
pub fn calls_to_action(text: &str, buttons: usize) -> usize {
    let asked = sentences(text).iter().filter(|s| asks(s)).count();
    if asked == 0 && buttons > 0 {
        1
    } else {
        asked
    }
}

/// Panics unless `reply` makes at most one call to action, within WhatsApp's button limits;
/// returns how many it makes (0 or 1).
pub fn assert_at_most_one_call_to_action(reply: &OutboundMessageRequested) -> usize {
    assert!(reply.buttons.len() <= MAX_BUTTONS, "more than {MAX_BUTTONS} reply buttons: {reply:#?}");
    assert!(reply.buttons.iter().all(|b| !b.title.is_empty() && b.title.chars().count() <= MAX_TITLE_CHARS), "a button title is empty or over {MAX_TITLE_CHARS} characters: {reply:#?}");
    let calls = calls_to_action(&reply.text, reply.buttons.len());
    let asking: Vec<String> = sentences(&reply.text).into_iter().filter(|s| asks(s)).collect();
    assert!(calls <= 1, "{calls} calls to action in one reply ({:?}, {} buttons): {asking:?}\n{}", reply.purpose, reply.buttons.len(), reply.text);
    calls
}
