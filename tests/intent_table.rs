//! The offline NLU against real-looking customer messages (English, Hinglish, typos, several items,
//! gaj/yards/rolls, every decision kind, reply-button ids), one table row per message with the
//! structured result it must produce; plus the unit conversions (A10) and the alternatives (A9).

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use souk::intent::nlu::{extract, resolve, to_meters, CatalogEntry, Extraction, TenantCatalog, EXTRACTOR};
use souk_schemas::orders::{IntentLine, ItemDecision};

fn pool(material: &str, color: &str, available: Decimal, price: Option<Decimal>, per_roll: Option<Decimal>, aliases: &[&str]) -> CatalogEntry {
    CatalogEntry {
        material: material.into(),
        color: color.into(),
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
        available_meters: available,
        price_per_meter: price,
        meters_per_roll: per_roll,
    }
}

/// The demo shop: cotton in four colors (white sold out), polyester (blue sold out), silk (green
/// sold out), linen without roll lengths, and rayon.
fn demo() -> TenantCatalog {
    TenantCatalog {
        items: vec![
            pool("cotton", "blue", dec!(25), Some(dec!(120.00)), Some(dec!(10)), &["sooti"]),
            pool("cotton", "red", dec!(8), Some(dec!(110.00)), Some(dec!(10)), &["sooti"]),
            pool("cotton", "white", dec!(0), Some(dec!(100.00)), Some(dec!(10)), &["sooti"]),
            pool("cotton", "green", dec!(40), Some(dec!(115.00)), Some(dec!(20)), &["sooti"]),
            pool("polyester", "red", dec!(30), Some(dec!(80.00)), Some(dec!(25)), &["poly"]),
            pool("polyester", "blue", dec!(0), Some(dec!(80.00)), Some(dec!(25)), &["poly"]),
            pool("silk", "red", dec!(12), Some(dec!(450.00)), Some(dec!(5)), &["resham"]),
            pool("silk", "pink", dec!(6), Some(dec!(480.00)), Some(dec!(5)), &["resham"]),
            pool("silk", "green", dec!(0), Some(dec!(450.00)), Some(dec!(5)), &["resham"]),
            pool("linen", "white", dec!(50), Some(dec!(300.00)), None, &[]),
            pool("linen", "beige", dec!(20), Some(dec!(300.00)), None, &[]),
            pool("rayon", "black", dec!(15), Some(dec!(90.00)), Some(dec!(15)), &[]),
        ],
    }
}

/// Expected confidence band.
#[derive(Debug, Clone, Copy)]
enum Conf {
    /// Exactly 1.000 (reply buttons).
    Exact,
    /// ≥ 0.8: the session acts without asking (B6).
    High,
    /// In (0.5, 0.8): the session asks once.
    Low,
    /// ≤ 0.5.
    Unknown,
}

struct Row {
    text: &'static str,
    reply: Option<&'static str>,
    decision: &'static str,
    lines: &'static [&'static str],
    decisions: &'static [&'static str],
    conf: Conf,
    lang: &'static str,
}

const fn t(text: &'static str, decision: &'static str, lines: &'static [&'static str], decisions: &'static [&'static str], conf: Conf, lang: &'static str) -> Row {
    Row { text, reply: None, decision, lines, decisions, conf, lang }
}

const fn b(reply: &'static str, decision: &'static str, decisions: &'static [&'static str], conf: Conf) -> Row {
    Row { text: "", reply: Some(reply), decision, lines: &[], decisions, conf, lang: "en" }
}

use Conf::*;

/// `material/color/meters` (meters `-` when unknown).
fn show_line(l: &IntentLine) -> String {
    let meters = l.requested_meters.map_or("-".to_string(), |m| m.normalize().to_string());
    format!("{}/{}/{}", l.material, l.color, meters)
}

/// `ACTION[#index][ m=material][ c=color][ =meters][ ->material|color]`.
fn show_decision(d: &ItemDecision) -> String {
    let mut s = d.action.clone();
    if let Some(i) = d.index {
        s.push_str(&format!("#{i}"));
    }
    if let Some(m) = &d.material {
        s.push_str(&format!(" m={m}"));
    }
    if let Some(c) = &d.color {
        s.push_str(&format!(" c={c}"));
    }
    if let Some(m) = d.meters {
        s.push_str(&format!(" ={}", m.normalize()));
    }
    if let Some(r) = &d.replacement {
        s.push_str(&format!(" ->{}|{}", r.material, r.color));
    }
    s
}

const ROWS: &[Row] = &[
    // --- new orders, English
    t("20m blue cotton", "ORDER", &["cotton/blue/20"], &[], High, "en"),
    t("Hi, I need 20 meters of blue cotton please", "ORDER", &["cotton/blue/20"], &[], High, "en"),
    t("cotton blue 20 meter", "ORDER", &["cotton/blue/20"], &[], High, "en"),
    t("10m blue cotton and 6m red polyester", "ORDER", &["cotton/blue/10", "polyester/red/6"], &[], High, "en"),
    t("5m red silk, 3m pink silk & 10 mtr white linen", "ORDER", &["silk/red/5", "silk/pink/3", "linen/white/10"], &[], High, "en"),
    t("20m blue cotton 10m red silk", "ORDER", &["cotton/blue/20", "silk/red/10"], &[], High, "en"),
    t("2.5 metres beige linen", "ORDER", &["linen/beige/2.5"], &[], High, "en"),
    t("2 rolls of white linen", "ORDER", &["linen/white/-"], &[], High, "en"),
    t("3 rolls green cotton", "ORDER", &["cotton/green/60"], &[], High, "en"),
    t("1 roll black rayon + 2 roll red polyester", "ORDER", &["rayon/black/15", "polyester/red/50"], &[], High, "en"),
    t("5 yards blue cotton + 3 yd red silk", "ORDER", &["cotton/blue/4.572", "silk/red/2.743"], &[], High, "en"),
    t("Can you send 12m RED COTTON", "ORDER", &["cotton/red/12"], &[], High, "en"),
    t("need 15m rayon", "ORDER", &["rayon/black/15"], &[], High, "en"),
    t("20m green silk", "ORDER", &["silk/green/20"], &[], High, "en"),
    t("10m yellow cotton", "ORDER", &["cotton/yellow/10"], &[], High, "en"),
    // --- Hinglish
    t("10m blue cotton aur 6m red polyester", "ORDER", &["cotton/blue/10", "polyester/red/6"], &[], High, "hinglish"),
    t("15 gaj laal silk", "ORDER", &["silk/red/13.716"], &[], High, "hinglish"),
    t("mujhe 20 meter neela sooti kapda chahiye", "ORDER", &["cotton/blue/20"], &[], High, "hinglish"),
    t("2 than hara cotton bhej do", "ORDER", &["cotton/green/40"], &[], High, "hinglish"),
    t("bhaiya 8 meter gulabi resham aur 4 gaj safed linen", "ORDER", &["silk/pink/8", "linen/white/3.658"], &[], High, "hinglish"),
    t("10 mtr kala rayon chahiye", "ORDER", &["rayon/black/10"], &[], High, "hinglish"),
    t("namaste, 5m lal polyester", "ORDER", &["polyester/red/5"], &[], High, "hinglish"),
    // --- typos
    t("20m blue cotten", "ORDER", &["cotton/blue/20"], &[], High, "en"),
    t("6m red polyster", "ORDER", &["polyester/red/6"], &[], High, "en"),
    t("6m red polister", "ORDER", &["polyester/red/6"], &[], Low, "en"),
    t("10 meterss blue cottn", "ORDER", &["cotton/blue/10"], &[], High, "en"),
    t("10m neelaa cotton", "ORDER", &["cotton/blue/10"], &[], High, "hinglish"),
    // --- unresolved or unknown materials
    t("20m cotton", "ORDER", &["cotton//20"], &[], Unknown, "en"),
    t("20m blue velvet", "UNKNOWN", &[], &[], Unknown, "en"),
    t("10m blue cotton and 5m velvet", "ORDER", &["cotton/blue/10"], &[], Low, "en"),
    t("blue cotton", "UNKNOWN", &[], &[], Unknown, "en"),
    t("asdf qwerty", "UNKNOWN", &[], &[], Unknown, "en"),
    t("???", "UNKNOWN", &[], &[], Unknown, "en"),
    // --- confirm
    t("Confirm", "CONFIRM", &[], &[], High, "en"),
    t("ok confirm", "CONFIRM", &[], &[], High, "en"),
    t("yes", "CONFIRM", &[], &[], High, "en"),
    t("haan theek hai", "CONFIRM", &[], &[], High, "hinglish"),
    t("pakka", "CONFIRM", &[], &[], High, "hinglish"),
    t("done 👍", "CONFIRM", &[], &[], High, "en"),
    t("confrim", "CONFIRM", &[], &[], High, "en"),
    // --- cancel all
    t("cancel the whole order", "CANCEL_ALL", &[], &[], High, "en"),
    t("cancel order", "CANCEL_ALL", &[], &[], High, "en"),
    t("sab cancel kar do", "CANCEL_ALL", &[], &[], High, "hinglish"),
    t("nahi chahiye", "CANCEL_ALL", &[], &[], High, "hinglish"),
    t("ok, cancel everything", "CANCEL_ALL", &[], &[], High, "en"),
    t("cancel the blue cotton, 5m red silk", "CANCEL_ITEM", &["silk/red/5"], &["CANCEL_ITEM m=cotton c=blue"], Low, "en"),
    t("cancel everything and 5m red silk", "CANCEL_ALL", &[], &[], Low, "en"),
    // --- edit
    t("edit", "EDIT", &[], &[], High, "en"),
    t("I want to change something", "EDIT", &[], &[], High, "en"),
    t("make the cotton 25m", "EDIT", &[], &["EDIT_ITEM m=cotton =25"], High, "en"),
    t("cotton ko 25 meter kar do", "EDIT", &[], &["EDIT_ITEM m=cotton =25"], High, "hinglish"),
    t("change item 2 to 10 yards", "EDIT", &[], &["EDIT_ITEM#2 =9.144"], High, "en"),
    t("make the red silk 2 rolls", "EDIT", &[], &["EDIT_ITEM m=silk c=red =10"], High, "en"),
    t("item 2 ko 30 meter kar do", "EDIT", &[], &["EDIT_ITEM#2 =30"], High, "hinglish"),
    t("make it 25m", "EDIT", &[], &["EDIT_ITEM =25"], Low, "en"),
    t("2nd item cancel", "CANCEL_ITEM", &[], &["CANCEL_ITEM#2"], High, "en"),
    t("cancle the pink silk", "CANCEL_ITEM", &[], &["CANCEL_ITEM m=silk c=pink"], High, "en"),
    t("3 rols red cotton", "ORDER", &["cotton/red/30"], &[], High, "en"),
    t("blue cotton 20", "ORDER", &["cotton/blue/20"], &[], High, "en"),
    t("what is the price of silk?", "UNKNOWN", &[], &[], Unknown, "en"),
    t("thanks", "UNKNOWN", &[], &[], Unknown, "en"),
    // --- add
    t("add 5m red silk", "ADD", &["silk/red/5"], &[], High, "en"),
    t("aur 5m gulabi silk bhi", "ADD", &["silk/pink/5"], &[], High, "hinglish"),
    t("also 3m black rayon and 2m beige linen", "ADD", &["rayon/black/3", "linen/beige/2"], &[], High, "en"),
    // --- accept available
    t("ok send what you have", "ACCEPT_AVAILABLE", &[], &["ACCEPT_AVAILABLE"], High, "en"),
    t("jitna hai utna bhej do", "ACCEPT_AVAILABLE", &[], &["ACCEPT_AVAILABLE"], High, "hinglish"),
    t("accept available", "ACCEPT_AVAILABLE", &[], &["ACCEPT_AVAILABLE"], High, "en"),
    t("accept the silk", "ACCEPT_AVAILABLE", &[], &["ACCEPT_AVAILABLE m=silk"], High, "en"),
    // --- cancel item
    t("cancel the silk", "CANCEL_ITEM", &[], &["CANCEL_ITEM m=silk"], High, "en"),
    t("remove item 2", "CANCEL_ITEM", &[], &["CANCEL_ITEM#2"], High, "en"),
    t("silk nahi chahiye", "CANCEL_ITEM", &[], &["CANCEL_ITEM m=silk"], High, "hinglish"),
    t("cancel item 2 and 3", "CANCEL_ITEM", &[], &["CANCEL_ITEM#2", "CANCEL_ITEM#3"], High, "en"),
    t("don't want the red polyester", "CANCEL_ITEM", &[], &["CANCEL_ITEM m=polyester c=red"], High, "en"),
    t("cancel the 2nd one", "CANCEL_ITEM", &[], &["CANCEL_ITEM#2"], High, "en"),
    // --- mixed (rules F3.11)
    t("accept item 1 and cancel item 2", "ACCEPT_AVAILABLE", &[], &["ACCEPT_AVAILABLE#1", "CANCEL_ITEM#2"], High, "en"),
    t("item 1 jitna hai utna bhej do aur item 2 cancel", "ACCEPT_AVAILABLE", &[], &["ACCEPT_AVAILABLE#1", "CANCEL_ITEM#2"], High, "hinglish"),
    t("cancel the silk and make the cotton 15m", "CANCEL_ITEM", &[], &["CANCEL_ITEM m=silk", "EDIT_ITEM m=cotton =15"], High, "en"),
    // --- alternatives and replace
    t("any other color?", "REQUEST_ALTERNATIVE", &[], &["REQUEST_ALTERNATIVE"], High, "en"),
    t("koi aur rang?", "REQUEST_ALTERNATIVE", &[], &["REQUEST_ALTERNATIVE"], High, "hinglish"),
    t("alternatives for the green silk", "REQUEST_ALTERNATIVE", &[], &["REQUEST_ALTERNATIVE m=silk c=green"], High, "en"),
    t("take pink silk instead", "REQUEST_ALTERNATIVE", &[], &["REPLACE ->silk|pink"], High, "en"),
    t("take green instead", "REQUEST_ALTERNATIVE", &[], &["REPLACE ->|green"], Low, "en"),
    t("take green instead of the blue cotton", "REQUEST_ALTERNATIVE", &[], &["REPLACE m=cotton c=blue ->cotton|green"], High, "en"),
    t("green wala de do", "REQUEST_ALTERNATIVE", &[], &["REPLACE ->|green"], Low, "hinglish"),
    t("silk mein pink wala de do", "REQUEST_ALTERNATIVE", &[], &["REPLACE ->silk|pink"], High, "hinglish"),
    t("silk ki jagah rayon", "REQUEST_ALTERNATIVE", &[], &["REPLACE m=silk ->rayon|"], Low, "hinglish"),
    t("red silk instead of green silk", "REQUEST_ALTERNATIVE", &[], &["REPLACE m=silk c=green ->silk|red"], High, "en"),
    t("replace item 1 with red cotton", "REQUEST_ALTERNATIVE", &[], &["REPLACE#1 ->cotton|red"], High, "en"),
    t("neela ki jagah hara cotton", "REQUEST_ALTERNATIVE", &[], &["REPLACE c=blue ->cotton|green"], High, "hinglish"),
    // --- greetings
    t("hi", "GREETING", &[], &[], High, "en"),
    t("Namaste ji", "GREETING", &[], &[], High, "hinglish"),
    // --- reply buttons (A12)
    b("confirm", "CONFIRM", &[], Exact),
    b("edit", "EDIT", &[], Exact),
    b("cancel_order", "CANCEL_ALL", &[], Exact),
    b("accept_available:2", "ACCEPT_AVAILABLE", &["ACCEPT_AVAILABLE#2"], Exact),
    b("cancel_item:1", "CANCEL_ITEM", &["CANCEL_ITEM#1"], Exact),
    b("alternatives:3", "REQUEST_ALTERNATIVE", &["REQUEST_ALTERNATIVE#3"], Exact),
    b("replace:1:silk|red", "REQUEST_ALTERNATIVE", &["REPLACE#1 ->silk|red"], Exact),
    b("replace:x:silk|red", "UNKNOWN", &[], Unknown),
    b("accept_available:0", "UNKNOWN", &[], Unknown),
    b("buy_now", "UNKNOWN", &[], Unknown),
];

fn check(row: &Row, catalog: &TenantCatalog) -> Result<(), String> {
    let text = (!row.text.is_empty()).then_some(row.text);
    let got: Extraction = extract(text, row.reply, catalog);
    let lines: Vec<String> = got.lines.iter().map(show_line).collect();
    let decisions: Vec<String> = got.decisions.iter().map(show_decision).collect();
    let c = got.confidence;
    let conf_ok = match row.conf {
        Exact => c == Decimal::ONE,
        High => c >= dec!(0.8) && c <= Decimal::ONE,
        Low => c > dec!(0.5) && c < dec!(0.8),
        Unknown => c <= dec!(0.5) && c >= Decimal::ZERO,
    };
    let ok = got.decision == row.decision && lines == row.lines && decisions == row.decisions && conf_ok && got.language == row.lang && c.scale() == 3;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{:?} / {:?}: got {} {:?} {:?} conf {} lang {}, want {} {:?} {:?} {:?} lang {}",
            row.text, row.reply, got.decision, lines, decisions, c, got.language, row.decision, row.lines, row.decisions, row.conf, row.lang
        ))
    }
}

#[test]
fn customer_messages_table() {
    assert!(ROWS.len() >= 60, "the table keeps at least 60 messages");
    let catalog = demo();
    let failures: Vec<String> = ROWS.iter().filter_map(|r| check(r, &catalog).err()).collect();
    assert!(failures.is_empty(), "{} of {} rows failed:\n{}", failures.len(), ROWS.len(), failures.join("\n"));
}

#[test]
fn lines_carry_the_catalog_snapshot_and_alternatives_only_when_out_of_stock() {
    let catalog = demo();
    let got = extract(Some("20m green silk aur 30m blue cotton"), None, &catalog);
    let oos = &got.lines[0];
    assert_eq!(oos.available_meters, Some(dec!(0)));
    assert_eq!(oos.price_per_meter, Some(dec!(450.00)));
    assert_eq!(oos.meters_per_roll, Some(dec!(5)));
    let alts: Vec<(String, String, Decimal)> = oos.alternatives.iter().map(|a| (a.material.clone(), a.color.clone(), a.available_meters)).collect();
    assert_eq!(
        alts,
        [("silk".into(), "red".into(), dec!(12)), ("silk".into(), "pink".into(), dec!(6)), ("cotton".into(), "green".into(), dec!(40))],
        "A9: same material other colors first, then same color other materials, each by availability"
    );
    let partial = &got.lines[1];
    assert_eq!((partial.available_meters, partial.requested_meters), (Some(dec!(25)), Some(dec!(30))));
    assert!(partial.alternatives.is_empty(), "no alternatives for a partial line");
    assert_eq!(partial.source_text, "30m blue cotton");
    assert_eq!(partial.unit, "m");
    assert_eq!(partial.match_confidence, dec!(1.000));
}

#[test]
fn alternatives_follow_a9() {
    let catalog = demo();
    let names = |m: &str, c: &str| catalog.alternatives(m, c).into_iter().map(|a| format!("{}/{}", a.material, a.color)).collect::<Vec<_>>();
    assert_eq!(names("cotton", "white"), ["cotton/green", "cotton/blue", "cotton/red"], "capped at 3, by availability");
    assert_eq!(names("polyester", "blue"), ["polyester/red", "cotton/blue"]);
    assert_eq!(names("linen", "yellow"), ["linen/white", "linen/beige"], "a pool the catalog lacks");
    assert_eq!(names("wool", "purple"), Vec::<String>::new());
    let unknown_color = extract(Some("10m yellow cotton"), None, &catalog);
    assert_eq!(unknown_color.lines[0].available_meters, Some(dec!(0)));
    assert_eq!(unknown_color.lines[0].alternatives.len(), 3);
}

#[test]
fn yards_gaj_and_rolls_convert_to_meters() {
    for n in 1..=200 {
        let n = Decimal::from(n);
        let want = (n * dec!(0.9144)).round_dp_with_strategy(3, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        assert_eq!(to_meters(n, "yard", None), Some(want));
        assert_eq!(to_meters(n, "gaj", None), Some(want));
    }
    assert_eq!(to_meters(dec!(1), "yard", None), Some(dec!(0.914)));
    assert_eq!(to_meters(dec!(3), "gaj", None), Some(dec!(2.743)));
    assert_eq!(to_meters(dec!(2.5), "yard", None), Some(dec!(2.286)));
    assert_eq!(to_meters(dec!(7), "yard", None), Some(dec!(6.401)));
    assert_eq!(to_meters(dec!(3), "roll", Some(dec!(12.5))), Some(dec!(37.5)));
    assert_eq!(to_meters(dec!(3), "roll", None), None);
    assert_eq!(to_meters(dec!(4.25), "m", None), Some(dec!(4.25)));
    assert_eq!(to_meters(dec!(4), "bolt", None), None);
}

#[test]
fn rolls_without_a_roll_length_keep_the_quantity_but_no_meters() {
    let got = extract(Some("2 rolls of white linen"), None, &demo());
    let line = &got.lines[0];
    assert_eq!((line.quantity, line.unit.as_str(), line.requested_meters), (dec!(2), "roll", None));
}

#[test]
fn replace_button_carries_the_pool_snapshot() {
    let got = extract(Some("Red silk"), Some("replace:2:silk|red"), &demo());
    let d = &got.decisions[0];
    assert_eq!((d.action.as_str(), d.index), ("REPLACE", Some(2)));
    let r = d.replacement.as_ref().unwrap();
    assert_eq!((r.available_meters, r.price_per_meter, r.meters_per_roll, r.requested_meters), (Some(dec!(12)), Some(dec!(450.00)), Some(dec!(5)), None));
    assert_eq!(got.confidence.to_string(), "1.000");
}

#[test]
fn same_message_same_intent_and_resolve_fills_the_event() {
    use souk_schemas::whatsapp::InboundMessage;
    use souk_schemas::Envelope;
    let msg = InboundMessage {
        envelope: Envelope::external("acme", "wamid.1", 1_700_000_000_000),
        phone_number_id: "pn".into(),
        wa_id: "919800000001".into(),
        profile_name: None,
        wamid: "wamid.1".into(),
        sent_at: 1_700_000_000_000,
        kind: "text".into(),
        message_type: "text".into(),
        text: Some("10m blue cotton aur 6m red polyester".into()),
        reply_id: None,
        context_wamid: None,
        raw_json: "{}".into(),
    };
    let env = msg.envelope.derive("intent/acme|919800000001", 0, msg.envelope.occurred_at);
    let a = resolve(env.clone(), &msg, &demo());
    let b = resolve(env, &msg, &demo());
    assert_eq!(a, b, "deterministic");
    assert_eq!((a.decision.as_str(), a.lines.len(), a.extractor.as_str()), ("ORDER", 2, EXTRACTOR));
    assert_eq!((a.customer.as_str(), a.wamid.as_str()), ("919800000001", "wamid.1"));
    assert_eq!(a.message_event_id, msg.envelope.event_id);
}

#[test]
fn the_catalog_loads_from_json() {
    let json = r#"{"items":[{"material":"cotton","color":"blue","aliases":["sooti"],"available_meters":"25","price_per_meter":"120.00","meters_per_roll":10}]}"#;
    let catalog: TenantCatalog = serde_json::from_str(json).unwrap();
    assert_eq!(catalog.items[0].meters_per_roll, Some(dec!(10)));
    assert_eq!(extract(Some("5m neela sooti"), None, &catalog).lines[0].material, "cotton");
}
