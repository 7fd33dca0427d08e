//! The fixed vocabulary of the offline NLU: Hindi/Hinglish color and material words, English color
//! names, measuring units (A10), the phrases that signal a customer decision, and the words that
//! must never be fuzzy-matched onto a catalog name. Data only, so adding a word never touches logic.

/// What a decision phrase signals; `clause.rs` turns cues plus targets into decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Cue {
    /// Yes / go ahead.
    Confirm,
    /// Cancel or remove (an item when a target is named, else the whole order).
    Cancel,
    /// Accept the available quantity.
    Accept,
    /// Ask for other options.
    Alternative,
    /// Swap in what follows ("instead", "replace with", "green wala").
    Replace,
    /// "X instead of Y": the words after the cue name the old line, those before the new one.
    ReplaceOf,
    /// "Y ki jagah X": the words before the cue name the old line, those after the new one.
    ReplaceFor,
    /// "wala/wali": a replacement only when no quantity is said.
    Wala,
    /// Change a quantity ("make", "change", "edit").
    Edit,
    /// Hindi "kar do / karo": an edit only with "ko" or a target without color.
    WeakDo,
    /// Add to the order.
    Add,
    /// Hello.
    Greeting,
}

/// A measuring unit said after a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Meters (also a bare number).
    Meter,
    /// English yards (0.9144 m).
    Yard,
    /// Hindi gaj, a yard (0.9144 m).
    Gaj,
    /// Whole rolls ("than"), converted with the pool's roll length.
    Roll,
}

impl Unit {
    /// The `IntentLine.unit` spelling.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Unit::Meter => "m",
            Unit::Yard => "yard",
            Unit::Gaj => "gaj",
            Unit::Roll => "roll",
        }
    }
}

/// Unit words (only recognised right after a number, so "than" and "m" stay harmless elsewhere).
pub(crate) const UNITS: &[(&str, Unit)] = &[
    ("m", Unit::Meter),
    ("mt", Unit::Meter),
    ("mtr", Unit::Meter),
    ("mtrs", Unit::Meter),
    ("meter", Unit::Meter),
    ("meters", Unit::Meter),
    ("metre", Unit::Meter),
    ("metres", Unit::Meter),
    ("meetar", Unit::Meter),
    ("gaj", Unit::Gaj),
    ("gaz", Unit::Gaj),
    ("yard", Unit::Yard),
    ("yards", Unit::Yard),
    ("yd", Unit::Yard),
    ("yds", Unit::Yard),
    ("roll", Unit::Roll),
    ("rol", Unit::Roll),
    ("rols", Unit::Roll),
    ("rolls", Unit::Roll),
    ("than", Unit::Roll),
    ("thaan", Unit::Roll),
    ("thans", Unit::Roll),
];

/// Hindi/Hinglish color words → English color.
pub(crate) const HINDI_COLORS: &[(&str, &str)] = &[
    ("laal", "red"),
    ("lal", "red"),
    ("neela", "blue"),
    ("nila", "blue"),
    ("neeli", "blue"),
    ("nili", "blue"),
    ("safed", "white"),
    ("safaid", "white"),
    ("sufaid", "white"),
    ("safeed", "white"),
    ("kala", "black"),
    ("kaala", "black"),
    ("kali", "black"),
    ("kaali", "black"),
    ("hara", "green"),
    ("haraa", "green"),
    ("hari", "green"),
    ("peela", "yellow"),
    ("pila", "yellow"),
    ("peeli", "yellow"),
    ("gulabi", "pink"),
    ("gulaabi", "pink"),
    ("narangi", "orange"),
    ("santri", "orange"),
    ("bhura", "brown"),
    ("bhoora", "brown"),
    ("baingani", "purple"),
    ("jamuni", "purple"),
    ("sunehra", "golden"),
    ("sunehri", "golden"),
    ("mehroon", "maroon"),
    ("kesari", "saffron"),
    ("aasmani", "sky blue"),
];

/// Hindi/Hinglish material words → English material (a line only if the tenant sells it).
pub(crate) const HINDI_MATERIALS: &[(&str, &str)] = &[
    ("sooti", "cotton"),
    ("suti", "cotton"),
    ("sooti kapda", "cotton"),
    ("resham", "silk"),
    ("reshmi", "silk"),
    ("malmal", "muslin"),
    ("makhmal", "velvet"),
    ("oon", "wool"),
    ("ooni", "wool"),
    ("khaddar", "khadi"),
];

/// English color names recognised even when the tenant does not stock them (an out-of-stock line).
pub(crate) const COLORS: &[&str] = &[
    "red",
    "blue",
    "green",
    "yellow",
    "white",
    "black",
    "pink",
    "orange",
    "purple",
    "brown",
    "grey",
    "gray",
    "maroon",
    "navy",
    "navy blue",
    "sky blue",
    "beige",
    "cream",
    "golden",
    "gold",
    "silver",
    "violet",
    "magenta",
    "teal",
    "olive",
    "mustard",
    "peach",
    "off white",
    "saffron",
    "indigo",
];

/// Decision phrases, longest match wins; `(phrase, cue, hindi)`.
pub(crate) const CUES: &[(&str, Cue, bool)] = &[
    // confirm
    ("confirm", Cue::Confirm, false),
    ("confirmed", Cue::Confirm, false),
    ("yes", Cue::Confirm, false),
    ("yess", Cue::Confirm, false),
    ("yeah", Cue::Confirm, false),
    ("yep", Cue::Confirm, false),
    ("ok", Cue::Confirm, false),
    ("okay", Cue::Confirm, false),
    ("okk", Cue::Confirm, false),
    ("done", Cue::Confirm, false),
    ("go ahead", Cue::Confirm, false),
    ("proceed", Cue::Confirm, false),
    ("place the order", Cue::Confirm, false),
    ("haan", Cue::Confirm, true),
    ("han", Cue::Confirm, true),
    ("haa", Cue::Confirm, true),
    ("ji haan", Cue::Confirm, true),
    ("theek hai", Cue::Confirm, true),
    ("thik hai", Cue::Confirm, true),
    ("theek h", Cue::Confirm, true),
    ("sahi hai", Cue::Confirm, true),
    ("pakka", Cue::Confirm, true),
    ("bilkul", Cue::Confirm, true),
    ("chalega", Cue::Confirm, true),
    // cancel
    ("cancel", Cue::Cancel, false),
    ("cancelled", Cue::Cancel, false),
    ("remove", Cue::Cancel, false),
    ("delete", Cue::Cancel, false),
    ("drop", Cue::Cancel, false),
    ("dont want", Cue::Cancel, false),
    ("do not want", Cue::Cancel, false),
    ("dont need", Cue::Cancel, false),
    ("no need", Cue::Cancel, false),
    ("not needed", Cue::Cancel, false),
    ("nahi chahiye", Cue::Cancel, true),
    ("nahin chahiye", Cue::Cancel, true),
    ("nai chahiye", Cue::Cancel, true),
    ("mat bhejo", Cue::Cancel, true),
    ("mat bhejna", Cue::Cancel, true),
    ("hata do", Cue::Cancel, true),
    ("hatao", Cue::Cancel, true),
    ("hata dijiye", Cue::Cancel, true),
    // accept available
    ("accept", Cue::Accept, false),
    ("accept available", Cue::Accept, false),
    ("send what you have", Cue::Accept, false),
    ("whatever you have", Cue::Accept, false),
    ("whatever is available", Cue::Accept, false),
    ("what is available", Cue::Accept, false),
    ("available is fine", Cue::Accept, false),
    ("partial is fine", Cue::Accept, false),
    ("jitna hai utna", Cue::Accept, true),
    ("jitna hai", Cue::Accept, true),
    ("jitna bhi hai", Cue::Accept, true),
    ("jo hai", Cue::Accept, true),
    ("jo bhi hai", Cue::Accept, true),
    // alternatives
    ("alternative", Cue::Alternative, false),
    ("alternatives", Cue::Alternative, false),
    ("other color", Cue::Alternative, false),
    ("other colors", Cue::Alternative, false),
    ("other colour", Cue::Alternative, false),
    ("other colours", Cue::Alternative, false),
    ("other options", Cue::Alternative, false),
    ("other option", Cue::Alternative, false),
    ("something else", Cue::Alternative, false),
    ("what else", Cue::Alternative, false),
    ("koi aur", Cue::Alternative, true),
    ("aur koi", Cue::Alternative, true),
    ("koi aur rang", Cue::Alternative, true),
    ("aur rang", Cue::Alternative, true),
    ("dusra rang", Cue::Alternative, true),
    ("doosra rang", Cue::Alternative, true),
    ("kuch aur", Cue::Alternative, true),
    ("aur kya hai", Cue::Alternative, true),
    // replace
    ("instead", Cue::Replace, false),
    ("replace", Cue::Replace, false),
    ("replace with", Cue::Replace, false),
    ("swap", Cue::Replace, false),
    ("instead of", Cue::ReplaceOf, false),
    ("ki jagah", Cue::ReplaceFor, true),
    ("ke badle", Cue::ReplaceFor, true),
    ("wala", Cue::Wala, true),
    ("wali", Cue::Wala, true),
    ("wale", Cue::Wala, true),
    ("vala", Cue::Wala, true),
    // edit
    ("edit", Cue::Edit, false),
    ("change", Cue::Edit, false),
    ("make", Cue::Edit, false),
    ("make it", Cue::Edit, false),
    ("update", Cue::Edit, false),
    ("modify", Cue::Edit, false),
    ("badal do", Cue::Edit, true),
    ("badlo", Cue::Edit, true),
    ("kar do", Cue::WeakDo, true),
    ("kardo", Cue::WeakDo, true),
    ("karo", Cue::WeakDo, true),
    ("kar dijiye", Cue::WeakDo, true),
    // add
    ("add", Cue::Add, false),
    ("also", Cue::Add, false),
    ("plus", Cue::Add, false),
    ("extra", Cue::Add, false),
    ("bhi", Cue::Add, true),
    ("jod do", Cue::Add, true),
    // greeting
    ("hi", Cue::Greeting, false),
    ("hii", Cue::Greeting, false),
    ("hello", Cue::Greeting, false),
    ("hey", Cue::Greeting, false),
    ("good morning", Cue::Greeting, false),
    ("namaste", Cue::Greeting, true),
    ("namaskar", Cue::Greeting, true),
    ("salaam", Cue::Greeting, true),
];

/// Words that split a message into clauses (A10 connectors, plus sentence punctuation).
pub(crate) const CONNECTOR_WORDS: &[&str] = &["and", "aur", "but", "lekin", "then", "phir"];

/// Words that introduce a line number ("item 2", "line #2", "no. 2").
pub(crate) const INDEX_WORDS: &[&str] = &["item", "items", "line", "no", "number", "product"];

/// Ordinal words → 1-based line number.
pub(crate) const ORDINALS: &[(&str, i32)] = &[("first", 1), ("second", 2), ("third", 3), ("fourth", 4), ("fifth", 5), ("pehla", 1), ("pehle", 1), ("pehli", 1)];

/// Hindi function words that mark a message as Hinglish without meaning anything for the order.
pub(crate) const HINDI_WORDS: &[&str] = &[
    "hai", "hain", "chahiye", "chaiye", "bhej", "bhejo", "bhejdo", "de", "dedo", "dena", "ka", "ki", "ke", "ko", "mein", "mujhe", "humko", "hume", "kapda", "kapde", "rang", "nahi", "nahin", "sab",
    "pura", "poora", "bhai", "bhaiya", "ji", "kya", "utna", "jitna", "wo", "woh", "yeh", "ye", "aap", "dijiye", "kijiye", "kar", "aur", "lekin", "phir", "accha", "acha", "achha",
];

/// Common words never fuzzy-matched onto a material or color ("sick" is not "silk").
pub(crate) const STOPWORDS: &[&str] = &[
    "the",
    "a",
    "an",
    "of",
    "for",
    "to",
    "in",
    "on",
    "at",
    "it",
    "is",
    "im",
    "me",
    "my",
    "i",
    "we",
    "you",
    "your",
    "please",
    "pls",
    "plz",
    "send",
    "need",
    "want",
    "have",
    "has",
    "with",
    "what",
    "this",
    "that",
    "these",
    "those",
    "some",
    "same",
    "more",
    "less",
    "order",
    "orders",
    "item",
    "items",
    "only",
    "just",
    "all",
    "whole",
    "entire",
    "everything",
    "rest",
    "also",
    "will",
    "would",
    "can",
    "could",
    "take",
    "give",
    "sick",
    "milk",
    "link",
    "bill",
    "well",
    "tell",
    "sell",
    "shall",
    "should",
    "there",
    "their",
    "then",
    "than",
    "from",
    "color",
    "colour",
    "colors",
    "colours",
    "meter",
    "meters",
    "price",
    "rate",
    "much",
    "many",
    "available",
    "stock",
    "thanks",
    "thank",
    "today",
    "tomorrow",
    "fabric",
    "cloth",
    "material",
    "each",
    "one",
    "ones",
    "other",
    "kitna",
    "kitne",
    "hoga",
    "milega",
    "abhi",
    "jaldi",
    "sir",
    "madam",
    "bro",
    "sure",
];
