//! From tokens to meaning, one clause at a time: the lexer applies the vocabulary (quantities with
//! units, line numbers, materials, colors, decision phrases), the message is split at connectors
//! (A10), each clause's quantities/materials/colors are grouped into items, and the clause is
//! classified into one act (a line-level decision, a whole-order decision, or order lines).

use super::catalog::{Meaning, Vocabulary};
use super::lexicon::{Cue, Unit, CONNECTOR_WORDS, HINDI_WORDS, INDEX_WORDS, ORDINALS, UNITS};
use super::tokens::{tokenize, RawKind, RawToken};
use rust_decimal::Decimal;

/// A token with its meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lex {
    /// A quantity; `bare` when no unit was said (meters assumed).
    Qty { amount: Decimal, unit: Unit, bare: bool },
    /// A 1-based line number ("item 2", "#2", "2nd").
    Index(i32),
    /// A catalog material.
    Material(String, Decimal),
    /// A material word the tenant does not sell.
    Unsold(String),
    /// A color.
    Color(String, Decimal),
    /// A decision phrase.
    Cue(Cue, Decimal),
    /// Anything else.
    Word(String),
    /// A clause boundary.
    Connector,
}

/// A lexed token with its byte span in the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    /// Meaning.
    pub lex: Lex,
    /// Start byte.
    pub start: usize,
    /// End byte.
    pub end: usize,
}

/// Applies the vocabulary to `text`; the flag says whether Hindi words were seen.
pub(crate) fn lex(text: &str, vocab: &Vocabulary) -> (Vec<Token>, bool) {
    let raw = tokenize(text);
    let mut out = Vec::new();
    let mut hindi = false;
    let mut i = 0;
    while i < raw.len() {
        let t = &raw[i];
        let mut push = |lex: Lex, to: usize| out.push(Token { lex, start: t.start, end: raw[to].end });
        match &t.kind {
            RawKind::Connector => push(Lex::Connector, i),
            RawKind::Ordinal(n) => push(Lex::Index(*n), i),
            RawKind::Hash => {
                if let Some(n) = raw.get(i + 1).and_then(integer) {
                    push(Lex::Index(n), i + 1);
                    i += 1;
                }
            }
            RawKind::Number(amount) => match raw.get(i + 1).and_then(unit_of) {
                Some(unit) => {
                    hindi |= matches!(unit, Unit::Gaj) || raw[i + 1].text.starts_with("than");
                    push(Lex::Qty { amount: *amount, unit, bare: false }, i + 1);
                    i += 1;
                }
                None => push(Lex::Qty { amount: *amount, unit: Unit::Meter, bare: true }, i),
            },
            RawKind::Word => {
                let word = t.text.as_str();
                if let Some(skip) = index_after(&raw, i) {
                    push(Lex::Index(integer(&raw[i + skip]).unwrap_or(0)), i + skip);
                    i += skip + 1;
                    continue;
                }
                if let Some((_, n)) = ORDINALS.iter().find(|(w, _)| *w == word) {
                    hindi |= word.starts_with("peh");
                    push(Lex::Index(*n), i);
                } else if CONNECTOR_WORDS.contains(&word) {
                    hindi |= HINDI_WORDS.contains(&word);
                    push(Lex::Connector, i);
                } else if let Some((hit, words)) = longest_phrase(&raw, i, vocab) {
                    hindi |= hit.hindi;
                    let lex = match hit.meaning {
                        Meaning::Material(m) => Lex::Material(m, hit.confidence),
                        Meaning::UnsoldMaterial(m) => Lex::Unsold(m),
                        Meaning::Color(c) => Lex::Color(c, hit.confidence),
                        Meaning::Cue(c) => Lex::Cue(c, hit.confidence),
                    };
                    push(lex, i + words - 1);
                    i += words;
                    continue;
                } else {
                    hindi |= HINDI_WORDS.contains(&word);
                    push(Lex::Word(word.to_string()), i);
                }
            }
        }
        i += 1;
    }
    (out, hindi)
}

fn integer(t: &RawToken) -> Option<i32> {
    match &t.kind {
        RawKind::Number(n) if n.fract().is_zero() && *n >= Decimal::ONE => n.to_string().parse().ok(),
        _ => None,
    }
}

/// "item 2", "item no 2", "item no. 2", "line #2": how many tokens after `i` the number is.
fn index_after(raw: &[RawToken], i: usize) -> Option<usize> {
    if !INDEX_WORDS.contains(&raw[i].text.as_str()) {
        return None;
    }
    let mut j = i + 1;
    while raw.get(j).is_some_and(|t| t.kind == RawKind::Hash || t.text == "no" || t.text == "number") {
        j += 1;
    }
    raw.get(j).and_then(integer).map(|_| j - i)
}

/// A unit word right after a number, tolerating one typo in the longer spellings ("meterss").
fn unit_of(t: &RawToken) -> Option<Unit> {
    if t.kind != RawKind::Word {
        return None;
    }
    UNITS
        .iter()
        .find(|(w, _)| *w == t.text)
        .map(|(_, u)| *u)
        .or_else(|| (t.text.len() >= 5).then(|| UNITS.iter().find(|(w, _)| w.len() >= 5 && strsim::damerau_levenshtein(w, &t.text) <= 1)).flatten().map(|(_, u)| *u))
}

/// The longest vocabulary phrase starting at `i` (exact), else a fuzzy single word.
fn longest_phrase(raw: &[RawToken], i: usize, vocab: &Vocabulary) -> Option<(super::catalog::Hit, usize)> {
    let words = raw[i..].iter().take_while(|t| t.kind == RawKind::Word).count();
    for n in (1..=words.min(vocab.max_words())).rev() {
        let phrase: Vec<&str> = raw[i..i + n].iter().map(|t| t.text.as_str()).collect();
        if let Some(hit) = vocab.exact(&phrase.join(" ")) {
            return Some((hit, n));
        }
    }
    vocab.fuzzy(&raw[i].text).map(|hit| (hit, 1))
}

/// Quantities, material and color that belong together ("20m blue cotton").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Item {
    /// Amount, unit and whether the unit was left out.
    pub qty: Option<(Decimal, Unit, bool)>,
    /// Sold material and match confidence.
    pub material: Option<(String, Decimal)>,
    /// Unsold material named instead.
    pub unsold: Option<String>,
    /// Color and match confidence.
    pub color: Option<(String, Decimal)>,
    /// Byte span in the message.
    pub span: (usize, usize),
}

/// Groups a clause's quantities, materials and colors greedily: a slot that is already filled
/// starts the next item, which handles both "20m blue cotton 10m red silk" and "cotton blue 20 meter".
pub(crate) fn items(tokens: &[Token]) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::new();
    let mut cur = Item::default();
    let mut open = false;
    for t in tokens {
        let full = match &t.lex {
            Lex::Qty { .. } => cur.qty.is_some(),
            Lex::Material(..) | Lex::Unsold(_) => cur.material.is_some() || cur.unsold.is_some(),
            Lex::Color(..) => cur.color.is_some(),
            _ => continue,
        };
        if full {
            out.push(std::mem::take(&mut cur));
            open = false;
        }
        if !open {
            cur.span.0 = t.start;
            open = true;
        }
        cur.span.1 = t.end;
        match &t.lex {
            Lex::Qty { amount, unit, bare } => cur.qty = Some((*amount, *unit, *bare)),
            Lex::Material(m, c) => cur.material = Some((m.clone(), *c)),
            Lex::Unsold(m) => cur.unsold = Some(m.clone()),
            Lex::Color(c, conf) => cur.color = Some((c.clone(), *conf)),
            _ => {}
        }
    }
    if open {
        out.push(cur);
    }
    out
}

/// The line a clause-level decision is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Target {
    /// 1-based line number.
    pub index: Option<i32>,
    /// Material named (sold or not).
    pub material: Option<String>,
    /// Color named.
    pub color: Option<String>,
    /// Lowest match confidence of the names.
    pub confidence: Decimal,
}

impl Target {
    /// Whether anything names a line.
    pub(crate) fn is_named(&self) -> bool {
        self.index.is_some() || self.material.is_some() || self.color.is_some()
    }
}

/// The target named by `tokens` (first index, first material, first color).
pub(crate) fn target(tokens: &[Token]) -> Target {
    let mut t = Target { confidence: Decimal::ONE, ..Target::default() };
    for tok in tokens {
        match &tok.lex {
            Lex::Index(n) if t.index.is_none() => t.index = Some(*n),
            Lex::Material(m, c) if t.material.is_none() => {
                t.material = Some(m.clone());
                t.confidence = t.confidence.min(*c);
            }
            Lex::Unsold(m) if t.material.is_none() => t.material = Some(m.clone()),
            Lex::Color(col, c) if t.color.is_none() => {
                t.color = Some(col.clone());
                t.confidence = t.confidence.min(*c);
            }
            _ => {}
        }
    }
    t
}

/// What one clause does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Act {
    /// A decision about one line: action, target, new meters, replacement item.
    Line { action: &'static str, target: Target, qty: Option<(Decimal, Unit, bool)>, replacement: Option<Item> },
    /// Cancel the whole order.
    CancelAll,
    /// Confirm.
    Confirm,
    /// Greeting.
    Greeting,
    /// Edit without saying what.
    EditBare,
    /// Order (or, with `add`, added) items.
    Items { items: Vec<Item>, add: bool },
    /// Only names a line ("… and 3", "… and the silk"): repeats the previous line decision.
    TargetOnly(Target),
    /// Nothing recognisable.
    Nothing,
}

/// Classifies one clause; returns the act and the lowest confidence of the cues it used.
pub(crate) fn classify(tokens: &[Token]) -> (Act, Decimal) {
    let cues: Vec<(usize, Cue, Decimal)> = tokens
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match t.lex {
            Lex::Cue(c, conf) => Some((i, c, conf)),
            _ => None,
        })
        .collect();
    let has = |cue: Cue| cues.iter().find(|(_, c, _)| *c == cue).copied();
    let cue_conf = |found: Option<(usize, Cue, Decimal)>| found.map_or(Decimal::ONE, |(_, _, c)| c);
    let all_items = items(tokens);
    let qty = all_items.iter().find_map(|i| i.qty);
    let tgt = target(tokens);
    let has_word = |w: &str| tokens.iter().any(|t| t.lex == Lex::Word(w.into()));
    let line = |action, qty, replacement| Act::Line { action, target: target(tokens), qty, replacement };

    if let Some(c) = has(Cue::Cancel) {
        return (if tgt.is_named() { line("CANCEL_ITEM", None, None) } else { Act::CancelAll }, c.2);
    }
    let wala = has(Cue::Wala).filter(|_| qty.is_none() && (tgt.material.is_some() || tgt.color.is_some()));
    if let Some((at, cue, conf)) = has(Cue::Replace).or(has(Cue::ReplaceOf)).or(has(Cue::ReplaceFor)).or(wala) {
        let with = tokens.iter().position(|t| t.lex == Lex::Word("with".into())).filter(|w| *w > at);
        let (old, new) = match (with, cue) {
            (Some(w), _) => (&tokens[..w], &tokens[w + 1..]),
            (None, Cue::ReplaceOf) => (&tokens[at + 1..], &tokens[..at]),
            (None, Cue::ReplaceFor) => (&tokens[..at], &tokens[at + 1..]),
            _ => (&tokens[..0], tokens),
        };
        let mut old_target = target(old);
        old_target.index = old_target.index.or(tgt.index);
        let replacement = items(new).into_iter().find(|i| i.material.is_some() || i.unsold.is_some() || i.color.is_some()).map(|mut r| {
            // "blue silk ki jagah green": what the new line does not say, the old one did.
            let old_items = items(old);
            let old_item = old_items.first();
            if r.material.is_none() && r.unsold.is_none() {
                r.material = old_item.and_then(|o| o.material.clone());
                r.unsold = old_item.and_then(|o| o.unsold.clone());
            }
            if r.color.is_none() {
                r.color = old_item.and_then(|o| o.color.clone());
            }
            r
        });
        let act = match replacement {
            Some(r) => Act::Line { action: "REPLACE", target: old_target, qty: None, replacement: Some(r) },
            None => Act::Line { action: "REQUEST_ALTERNATIVE", target: old_target, qty: None, replacement: None },
        };
        return (act, conf);
    }
    if let Some(c) = has(Cue::Alternative) {
        return (line("REQUEST_ALTERNATIVE", None, None), c.2);
    }
    if let Some(c) = has(Cue::Accept) {
        return (line("ACCEPT_AVAILABLE", None, None), c.2);
    }
    let strong_edit = has(Cue::Edit);
    let weak_edit = has(Cue::WeakDo).filter(|_| tgt.index.is_some() || has_word("ko") || all_items.iter().any(|i| i.qty.is_some() && i.color.is_none()));
    if let Some(c) = strong_edit.or(weak_edit) {
        if qty.is_some() && (tgt.is_named() || strong_edit.is_some()) {
            return (line("EDIT_ITEM", qty, None), c.2);
        }
        if strong_edit.is_some() {
            return (Act::EditBare, c.2);
        }
    }
    let add = has(Cue::Add);
    if add.is_some() || all_items.iter().any(|i| i.qty.is_some() && !i.qty.is_some_and(|q| q.2 && i.material.is_none())) {
        return (Act::Items { items: all_items, add: add.is_some() }, cue_conf(add));
    }
    if let Some(c) = has(Cue::Confirm) {
        return (Act::Confirm, c.2);
    }
    if let Some(c) = has(Cue::Greeting) {
        return (Act::Greeting, c.2);
    }
    if let [Item { qty: Some((n, _, true)), material: None, unsold: None, color: None, .. }] = all_items.as_slice() {
        if n.fract().is_zero() && *n >= Decimal::ONE {
            let index = n.to_string().parse().ok();
            return (Act::TargetOnly(Target { index, confidence: Decimal::ONE, ..Target::default() }), Decimal::ONE);
        }
    }
    if tgt.is_named() && qty.is_none() {
        return (Act::TargetOnly(tgt), Decimal::ONE);
    }
    if all_items.is_empty() {
        (Act::Nothing, Decimal::ONE)
    } else {
        (Act::Items { items: all_items, add: false }, Decimal::ONE)
    }
}

/// Splits the lexed message into clauses at connectors.
pub(crate) fn clauses(tokens: &[Token]) -> impl Iterator<Item = &[Token]> {
    tokens.split(|t| t.lex == Lex::Connector).filter(|c| !c.is_empty())
}
