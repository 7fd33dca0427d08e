//! The tenant's catalog as the extractor sees it: what it sells (material × color pools with the
//! stock snapshot), the vocabulary built from it (catalog names, aliases, Hindi and English words,
//! decision phrases) with exact and typo-tolerant lookup, and the A9 alternatives for a pool.

use super::lexicon::{Cue, COLORS, CONNECTOR_WORDS, CUES, HINDI_COLORS, HINDI_MATERIALS, HINDI_WORDS, INDEX_WORDS, ORDINALS, STOPWORDS, UNITS};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use souk_schemas::orders::StockAlternative;
use std::collections::{BTreeMap, BTreeSet};

/// Everything a tenant sells, with availability: the extractor's only knowledge of the world, so
/// the same message against the same catalog always yields the same intent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantCatalog {
    /// One entry per (material, color) pool.
    #[serde(default)]
    pub items: Vec<CatalogEntry>,
}

/// One (material, color) pool of the catalog with the snapshot an `IntentLine` carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEntry {
    /// Material as the tenant names it.
    pub material: String,
    /// Color as the tenant names it.
    pub color: String,
    /// Other names customers use for the material (e.g. "sooti").
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Meters free to hold.
    pub available_meters: Decimal,
    /// Price per meter, when set (A4).
    #[serde(default)]
    pub price_per_meter: Option<Decimal>,
    /// Roll length used to convert "N rolls" (A10), when known.
    #[serde(default)]
    pub meters_per_roll: Option<Decimal>,
}

impl TenantCatalog {
    /// The pool named `material`/`color` (case-insensitive).
    pub fn entry(&self, material: &str, color: &str) -> Option<&CatalogEntry> {
        self.items.iter().find(|e| e.material.eq_ignore_ascii_case(material) && e.color.eq_ignore_ascii_case(color))
    }

    /// A9: up to 3 pools with stock to offer instead of an out-of-stock `material`/`color`: same
    /// material other colors first, then same color other materials, each by available meters
    /// descending (ties by name, so the order is deterministic).
    pub fn alternatives(&self, material: &str, color: &str) -> Vec<StockAlternative> {
        let group = |same_material: bool| {
            let mut pools: Vec<&CatalogEntry> = self
                .items
                .iter()
                .filter(|e| e.available_meters > Decimal::ZERO)
                .filter(|e| {
                    let m = e.material.eq_ignore_ascii_case(material);
                    let c = e.color.eq_ignore_ascii_case(color);
                    if same_material {
                        m && !c
                    } else {
                        c && !m
                    }
                })
                .collect();
            pools.sort_by(|a, b| b.available_meters.cmp(&a.available_meters).then_with(|| a.material.cmp(&b.material)).then_with(|| a.color.cmp(&b.color)));
            pools
        };
        group(true)
            .into_iter()
            .chain(group(false))
            .take(3)
            .map(|e| StockAlternative { material: e.material.clone(), color: e.color.clone(), available_meters: e.available_meters, price_per_meter: e.price_per_meter })
            .collect()
    }
}

/// What a vocabulary phrase means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Meaning {
    /// A material the tenant sells (catalog spelling).
    Material(String),
    /// A material word the tenant does not sell.
    UnsoldMaterial(String),
    /// A color (catalog spelling when the catalog has it).
    Color(String),
    /// A decision phrase.
    Cue(Cue),
}

/// A vocabulary match: meaning, how sure, Hindi or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    /// What it means.
    pub meaning: Meaning,
    /// 1 for exact, lower for typos.
    pub confidence: Decimal,
    /// A Hindi/Hinglish word.
    pub hindi: bool,
}

/// Material words known even when not sold, so "20m velvet" is recognised as an unsold material.
const MATERIALS: &[&str] =
    &["cotton", "silk", "linen", "polyester", "rayon", "wool", "georgette", "chiffon", "satin", "velvet", "denim", "khadi", "muslin", "crepe", "organza", "lycra", "jute", "nylon", "viscose"];

/// Exact and fuzzy lookup over the catalog plus the fixed lexicon.
pub(crate) struct Vocabulary {
    exact: BTreeMap<String, (Meaning, bool)>,
    protected: BTreeSet<String>,
    max_words: usize,
}

impl Vocabulary {
    /// Builds the vocabulary; catalog names override lexicon words of the same spelling.
    pub(crate) fn new(catalog: &TenantCatalog) -> Vocabulary {
        let mut exact: BTreeMap<String, (Meaning, bool)> = BTreeMap::new();
        let sold_material = |name: &str| catalog.items.iter().find(|e| e.material.eq_ignore_ascii_case(name)).map(|e| e.material.clone());
        let catalog_color = |name: &str| catalog.items.iter().find(|e| e.color.eq_ignore_ascii_case(name)).map(|e| e.color.clone()).unwrap_or_else(|| name.to_string());
        for (phrase, cue, hindi) in CUES {
            exact.insert(phrase.to_string(), (Meaning::Cue(*cue), *hindi));
        }
        for color in COLORS {
            exact.insert(color.to_string(), (Meaning::Color(catalog_color(color)), false));
        }
        for (word, color) in HINDI_COLORS {
            exact.insert(word.to_string(), (Meaning::Color(catalog_color(color)), true));
        }
        let material_meaning = |name: &str| match sold_material(name) {
            Some(m) => Meaning::Material(m),
            None => Meaning::UnsoldMaterial(name.to_string()),
        };
        for m in MATERIALS {
            exact.insert(m.to_string(), (material_meaning(m), false));
        }
        for (word, material) in HINDI_MATERIALS {
            exact.insert(word.to_string(), (material_meaning(material), true));
        }
        for e in &catalog.items {
            exact.insert(e.color.to_lowercase(), (Meaning::Color(e.color.clone()), false));
        }
        for e in &catalog.items {
            for alias in &e.aliases {
                let hindi = HINDI_MATERIALS.iter().any(|(w, _)| w.eq_ignore_ascii_case(alias));
                exact.insert(alias.to_lowercase(), (Meaning::Material(e.material.clone()), hindi));
            }
            exact.insert(e.material.to_lowercase(), (Meaning::Material(e.material.clone()), false));
        }
        let protected: BTreeSet<String> = STOPWORDS
            .iter()
            .chain(HINDI_WORDS)
            .chain(CONNECTOR_WORDS)
            .chain(INDEX_WORDS)
            .map(|w| w.to_string())
            .chain(UNITS.iter().map(|(w, _)| w.to_string()))
            .chain(ORDINALS.iter().map(|(w, _)| w.to_string()))
            .collect();
        let max_words = exact.keys().map(|k| k.split(' ').count()).max().unwrap_or(1);
        Vocabulary { exact, protected, max_words }
    }

    /// The longest phrase any entry has, in words.
    pub(crate) fn max_words(&self) -> usize {
        self.max_words
    }

    /// Exact meaning of a (space-joined, lowercase) phrase.
    pub(crate) fn exact(&self, phrase: &str) -> Option<Hit> {
        self.exact.get(phrase).map(|(meaning, hindi)| Hit { meaning: meaning.clone(), confidence: Decimal::ONE, hindi: *hindi })
    }

    /// A typo-tolerant match of one word: Damerau–Levenshtein distance ≤ 1 for words of 4–7
    /// letters, ≤ 2 from 8 letters; confidence 0.85 at distance 1, 0.70 at 2. Ties prefer
    /// materials, then colors, then decision words, then the alphabetically first.
    pub(crate) fn fuzzy(&self, word: &str) -> Option<Hit> {
        let len = word.chars().count();
        if len < 4 || self.protected.contains(word) || !word.chars().all(|c| c.is_alphabetic()) {
            return None;
        }
        let max = if len >= 8 { 2 } else { 1 };
        let rank = |m: &Meaning| match m {
            Meaning::Material(_) => 0,
            Meaning::UnsoldMaterial(_) => 1,
            Meaning::Color(_) => 2,
            Meaning::Cue(_) => 3,
        };
        let (distance, key) = self
            .exact
            .iter()
            .filter(|(k, (m, _))| !k.contains(' ') && (!matches!(m, Meaning::Cue(_)) || k.len() >= 5))
            .map(|(k, (m, _))| (strsim::damerau_levenshtein(word, k), rank(m), k))
            .filter(|(d, _, _)| *d <= max)
            .min()
            .map(|(d, _, k)| (d, k))?;
        let (meaning, hindi) = self.exact[key].clone();
        let confidence = if distance <= 1 { Decimal::new(85, 2) } else { Decimal::new(70, 2) };
        Some(Hit { meaning, confidence, hindi })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(material: &str, color: &str, available: i64) -> CatalogEntry {
        CatalogEntry { material: material.into(), color: color.into(), aliases: vec![], available_meters: Decimal::from(available), price_per_meter: None, meters_per_roll: None }
    }

    #[test]
    fn typos_scale_with_word_length() {
        let catalog = TenantCatalog { items: vec![entry("cotton", "blue", 5), entry("polyester", "red", 5)] };
        let v = Vocabulary::new(&catalog);
        assert_eq!(v.fuzzy("cotten").unwrap().meaning, Meaning::Material("cotton".into()));
        assert_eq!(v.fuzzy("polister").unwrap().confidence, Decimal::new(70, 2));
        assert_eq!(v.fuzzy("sick"), None, "stopwords are never matched");
        assert_eq!(v.fuzzy("cottn").unwrap().confidence, Decimal::new(85, 2));
        assert_eq!(v.fuzzy("cttn"), None, "distance 2 needs 8 letters");
    }
}
