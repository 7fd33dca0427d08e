//! Catalog matching for intents proposed by another extractor (the intent stage's optional LLM
//! backend): names are read with this extractor's vocabulary (catalog names, aliases, Hindi words,
//! typo tolerance) and lines get the stock snapshot and A9 alternatives through the same functions
//! the offline extractor uses, so an `IntentLine` means the same whoever proposed it.

use super::catalog::{Meaning, TenantCatalog, Vocabulary};
use super::clause::Item;
use super::lexicon::UNITS;
use rust_decimal::Decimal;
use souk_schemas::orders::IntentLine;

/// A name with its words lowercased and single-spaced, as the vocabulary stores phrases.
fn phrase(said: &str) -> String {
    said.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>().join(" ")
}

/// What the vocabulary makes of a name: exact phrase first, then a typo-tolerant single word.
fn meaning(vocab: &Vocabulary, said: &str) -> Option<(Meaning, Decimal)> {
    let p = phrase(said);
    if p.is_empty() {
        return None;
    }
    let hit = vocab.exact(&p).or_else(|| if p.contains(' ') { None } else { vocab.fuzzy(&p) })?;
    Some((hit.meaning, hit.confidence))
}

/// A material the tenant sells, from a name another extractor proposed ("cotton", "sooti",
/// "Cotton ", "cottn"): the catalog spelling and the match confidence; `None` for anything else
/// (including materials the tenant does not sell).
pub fn match_material(catalog: &TenantCatalog, said: &str) -> Option<(String, Decimal)> {
    match meaning(&Vocabulary::new(catalog), said)? {
        (Meaning::Material(m), c) => Some((m, c)),
        _ => None,
    }
}

/// A color the extractor knows ("blue", "neela", a catalog color), in catalog spelling when the
/// catalog has it, with the match confidence; `None` for a word that is not a color.
pub fn match_color(catalog: &TenantCatalog, said: &str) -> Option<(String, Decimal)> {
    match meaning(&Vocabulary::new(catalog), said)? {
        (Meaning::Color(c), conf) => Some((c, conf)),
        _ => None,
    }
}

/// A confidence clamped to [0,1] with exactly three decimals, as every `IntentResolved` carries.
pub fn clamp_confidence(d: Decimal) -> Decimal {
    super::score(d)
}

/// An order line another extractor proposed, built exactly like an offline one: the material must
/// be sold, a color that is said must be a color (unsaid: the material's only color, else empty
/// for the session to ask), the quantity > 0 in a known unit word. Carries the stock snapshot,
/// meters (A10) and A9 alternatives. `None` when any of that fails.
pub fn proposed_line(catalog: &TenantCatalog, material: &str, color: Option<&str>, quantity: Decimal, unit: &str, source_text: &str) -> Option<IntentLine> {
    let unit = UNITS.iter().find(|(w, _)| w.eq_ignore_ascii_case(unit.trim())).map(|(_, u)| *u)?;
    let material = match_material(catalog, material)?;
    let color = match color.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => Some(match_color(catalog, c)?),
        None => None,
    };
    let item = Item { qty: Some((quantity, unit, false)), material: Some(material), unsold: None, color, span: (0, source_text.len()) };
    super::decide::order_line(&item, source_text, catalog)
}

/// The new line of a REPLACE another extractor proposed: a sold material and a color, no quantity
/// (the session keeps the old line's), with the snapshot and alternatives. `None` when either name
/// does not match.
pub fn proposed_replacement(catalog: &TenantCatalog, material: &str, color: &str, source_text: &str) -> Option<IntentLine> {
    let (material, m_conf) = match_material(catalog, material)?;
    let (color, c_conf) = match_color(catalog, color)?;
    Some(super::pool_line(catalog, &material, &color, None, m_conf.min(c_conf), source_text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::nlu::CatalogEntry;

    fn catalog() -> TenantCatalog {
        let entry = |material: &str, color: &str, available: i64| CatalogEntry {
            material: material.into(),
            color: color.into(),
            aliases: vec!["sooti".into()].into_iter().filter(|_| material == "cotton").collect(),
            available_meters: Decimal::from(available),
            price_per_meter: None,
            meters_per_roll: None,
        };
        TenantCatalog { items: vec![entry("cotton", "blue", 40), entry("cotton", "red", 0), entry("silk", "green", 9)] }
    }

    #[test]
    fn names_match_like_the_offline_extractor() {
        let c = catalog();
        assert_eq!(match_material(&c, " Sooti "), Some(("cotton".into(), Decimal::ONE)));
        assert_eq!(match_material(&c, "velvet"), None, "not sold");
        assert_eq!(match_color(&c, "neela"), Some(("blue".into(), Decimal::ONE)));
        assert_eq!(match_color(&c, "cotton"), None);
    }

    #[test]
    fn proposed_lines_carry_the_snapshot() {
        let c = catalog();
        let out = proposed_line(&c, "cotton", Some("red"), Decimal::from(5), "m", "5m laal cotton").unwrap();
        assert_eq!(out.available_meters, Some(Decimal::ZERO));
        assert_eq!(out.alternatives.len(), 1, "cotton blue");
        let only = proposed_line(&c, "silk", None, Decimal::from(2), "yard", "2 gaj silk").unwrap();
        assert_eq!((only.color.as_str(), only.requested_meters), ("green", Some(Decimal::new(1829, 3))));
        assert_eq!(proposed_line(&c, "cotton", Some("blue"), Decimal::ZERO, "m", "x"), None);
        assert_eq!(proposed_line(&c, "cotton", Some("blue"), Decimal::ONE, "bale", "x"), None);
        assert!(proposed_replacement(&c, "silk", "hara", "silk hara").is_some());
    }
}
