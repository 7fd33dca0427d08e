//! Combines the clauses of a text message into one intent: the top-level decision, the order lines
//! (with the catalog snapshot), the per-line decisions, and a confidence that is high only when
//! every word that mattered matched exactly and nothing was left unresolved (B6).

use super::catalog::{TenantCatalog, Vocabulary};
use super::clause::{classify, clauses, lex, Act, Item, Target};
use super::{pool_line, Extraction};
use rust_decimal::Decimal;
use souk_schemas::orders::{IntentLine, ItemDecision};

/// Base confidences (two decimals, so every result has at most three).
const CLEAR: Decimal = Decimal::from_parts(95, 0, 0, false, 2);
const LINE_DECISION: Decimal = Decimal::from_parts(90, 0, 0, false, 2);
const GUESSED_COLOR: Decimal = Decimal::from_parts(90, 0, 0, false, 2);
/// A replacement that leaves material or color to the session: below B6's 0.8, so it asks.
const REPLACEMENT_PARTIAL: Decimal = Decimal::from_parts(70, 0, 0, false, 2);
const MIXED: Decimal = Decimal::from_parts(75, 0, 0, false, 2);
const CONFLICT: Decimal = Decimal::from_parts(70, 0, 0, false, 2);
const UNRESOLVED: Decimal = Decimal::from_parts(60, 0, 0, false, 2);
const MISSING_COLOR: Decimal = Decimal::from_parts(50, 0, 0, false, 2);
const UNKNOWN_SOMETHING: Decimal = Decimal::from_parts(45, 0, 0, false, 2);
const UNKNOWN_NOTHING: Decimal = Decimal::from_parts(30, 0, 0, false, 2);

/// What the clauses of one message added up to.
#[derive(Default)]
struct Summary {
    decisions: Vec<ItemDecision>,
    lines: Vec<IntentLine>,
    cancel_all: bool,
    confirm: bool,
    greeting: bool,
    edit_bare: bool,
    add: bool,
    unresolved: usize,
    caps: Vec<Decimal>,
}

/// Extracts the intent of a text message.
pub(crate) fn from_text(text: &str, catalog: &TenantCatalog) -> Extraction {
    let vocab = Vocabulary::new(catalog);
    let (tokens, hindi) = lex(text, &vocab);
    let mut s = Summary::default();
    for clause in clauses(&tokens) {
        let (act, cue_confidence) = classify(clause);
        s.caps.push(cue_confidence);
        s.apply(act, text, catalog);
    }
    s.finish(if hindi { "hinglish" } else { "en" })
}

impl Summary {
    fn apply(&mut self, act: Act, text: &str, catalog: &TenantCatalog) {
        match act {
            Act::Line { action, target, qty, replacement } => {
                self.caps.push(target.confidence);
                let meters = qty.and_then(|(n, unit, _)| {
                    let per_roll = target_pool(catalog, &target).and_then(|e| e.meters_per_roll);
                    super::to_meters(n, unit.name(), per_roll)
                });
                if action == "EDIT_ITEM" && meters.is_none() {
                    self.caps.push(UNRESOLVED);
                } else if action == "EDIT_ITEM" && !target.is_named() {
                    self.caps.push(MIXED);
                }
                let replacement = replacement.map(|r| self.replacement_line(&r, text, catalog));
                self.decisions.push(ItemDecision { action: action.to_string(), material: target.material, color: target.color, index: target.index, meters, replacement });
            }
            Act::CancelAll => self.cancel_all = true,
            Act::Confirm => self.confirm = true,
            Act::Greeting => self.greeting = true,
            Act::EditBare => self.edit_bare = true,
            Act::Items { items, add } => {
                self.add |= add;
                for item in &items {
                    match order_line(item, text, catalog) {
                        Some(line) => self.lines.push(line),
                        None => self.unresolved += 1,
                    }
                }
            }
            Act::TargetOnly(target) => self.repeat_last(target),
            Act::Nothing => {}
        }
    }

    /// "cancel item 2 and 3": a clause that only names a line repeats the previous line decision.
    fn repeat_last(&mut self, target: Target) {
        let Some(last) = self.decisions.last() else {
            self.unresolved += 1;
            return;
        };
        if last.action == "REPLACE" || last.action == "EDIT_ITEM" {
            self.unresolved += 1;
            return;
        }
        self.caps.push(target.confidence);
        let repeated = ItemDecision { action: last.action.clone(), material: target.material, color: target.color, index: target.index, meters: None, replacement: None };
        self.decisions.push(repeated);
    }

    /// The new line of a REPLACE; an empty material or color (not said, here or about the old line)
    /// keeps the confidence below the B6 threshold, so the session asks instead of guessing.
    fn replacement_line(&mut self, item: &Item, text: &str, catalog: &TenantCatalog) -> IntentLine {
        let (material, mut confidence) = match (&item.material, &item.unsold) {
            (Some((m, c)), _) => (m.clone(), *c),
            (None, Some(m)) => {
                self.caps.push(UNRESOLVED);
                (m.clone(), Decimal::ONE)
            }
            (None, None) => (String::new(), REPLACEMENT_PARTIAL),
        };
        let color = match &item.color {
            Some((c, conf)) => {
                confidence = confidence.min(*conf);
                c.clone()
            }
            None => {
                confidence = confidence.min(REPLACEMENT_PARTIAL);
                String::new()
            }
        };
        self.caps.push(confidence);
        let qty = item.qty.map(|(n, u, _)| (n, u));
        pool_line(catalog, &material, &color, qty, confidence, &text[item.span.0..item.span.1])
    }

    fn finish(mut self, language: &str) -> Extraction {
        let mut caps = std::mem::take(&mut self.caps);
        caps.extend(self.lines.iter().map(|l| l.match_confidence));
        if self.unresolved > 0 {
            caps.push(UNRESOLVED);
        }
        let (decision, base) = if self.cancel_all {
            if !self.lines.is_empty() {
                caps.push(CONFLICT);
            }
            self.decisions.clear();
            self.lines.clear();
            ("CANCEL_ALL", CLEAR)
        } else if let Some(first) = self.decisions.first() {
            if !self.lines.is_empty() {
                caps.push(MIXED);
            }
            let top = match first.action.as_str() {
                "EDIT_ITEM" => "EDIT",
                "REPLACE" | "REQUEST_ALTERNATIVE" => "REQUEST_ALTERNATIVE",
                "CANCEL_ITEM" => "CANCEL_ITEM",
                _ => "ACCEPT_AVAILABLE",
            };
            (top, LINE_DECISION)
        } else if !self.lines.is_empty() {
            (if self.add { "ADD" } else { "ORDER" }, CLEAR)
        } else if self.edit_bare {
            ("EDIT", LINE_DECISION)
        } else if self.add {
            ("ADD", UNRESOLVED)
        } else if self.confirm {
            ("CONFIRM", CLEAR)
        } else if self.greeting {
            ("GREETING", CLEAR)
        } else if self.unresolved > 0 {
            ("UNKNOWN", UNKNOWN_SOMETHING)
        } else {
            ("UNKNOWN", UNKNOWN_NOTHING)
        };
        let confidence = super::score(caps.into_iter().fold(base, Decimal::min));
        Extraction { decision: decision.to_string(), confidence, lines: self.lines, decisions: self.decisions, language: language.to_string() }
    }
}

/// The catalog pool a target names, when it names both material and color.
fn target_pool<'c>(catalog: &'c TenantCatalog, target: &Target) -> Option<&'c super::CatalogEntry> {
    catalog.entry(target.material.as_deref()?, target.color.as_deref()?)
}

/// An order line from an item: needs a quantity > 0 and a material the tenant sells. A missing
/// color is the material's only color when it has one (confidence 0.9), else left empty for the
/// session to ask about (confidence 0.5).
pub(crate) fn order_line(item: &Item, text: &str, catalog: &TenantCatalog) -> Option<IntentLine> {
    let (amount, unit, _) = item.qty.filter(|q| q.0 > Decimal::ZERO)?;
    let (material, mut confidence) = item.material.clone()?;
    let color = match &item.color {
        Some((c, conf)) => {
            confidence = confidence.min(*conf);
            c.clone()
        }
        None => {
            let mut colors = catalog.items.iter().filter(|e| e.material.eq_ignore_ascii_case(&material)).map(|e| &e.color);
            match (colors.next(), colors.next()) {
                (Some(only), None) => {
                    confidence = confidence.min(GUESSED_COLOR);
                    only.clone()
                }
                _ => {
                    confidence = confidence.min(MISSING_COLOR);
                    String::new()
                }
            }
        }
    };
    Some(pool_line(catalog, &material, &color, Some((amount, unit)), confidence, &text[item.span.0..item.span.1]))
}
