use super::*;
use crate::processor::Ctx;
use crate::testkit::Counter;
use rust_decimal::Decimal;
use souk_schemas::inventory::{HoldExpired, InventoryCommand, InventoryEvent, ReserveRejected, ReserveRequested};
use souk_schemas::Envelope;

const TOPOLOGY: &str = r#"
[topics.requests]
key = "tenant|material|color"
records = ["souk.inventory.ReserveRequested", "souk.inventory.CommitRequested", "souk.clock.Tick"]
partitions = 4
ticks = true
[topics.answers]
key = "tenant|material|color"
records = ["souk.inventory.ReserveRejected", "souk.inventory.HoldExpired"]
partitions = 2
[topics.audit]
key = "tenant|material|color"
records = ["souk.inventory.ReserveRejected", "souk.inventory.HoldExpired"]
[processors.counter]
kind = "counter"
inputs = ["requests"]
outputs = { events = "answers" }
[processors.relay]
kind = "relay"
inputs = ["answers"]
outputs = { events = "audit" }
[processors.strict]
kind = "strict"
inputs = ["answers"]
outputs = { events = "audit" }
"#;

/// Re-emits what it reads, under a derived envelope.
#[derive(Default)]
struct Relay;

impl Processor for Relay {
    type State = ();
    type Input = InventoryEvent;
    type Output = InventoryEvent;
    fn name(&self) -> &'static str {
        "relay"
    }
    fn handle(&self, _: &mut (), event: &InventoryEvent, ctx: &mut Ctx<InventoryEvent>) -> Result<(), Rejection> {
        let (envelope, key) = (ctx.envelope(), ctx.key().to_string());
        let out = match event {
            InventoryEvent::ReserveRejected(r) => InventoryEvent::ReserveRejected(ReserveRejected { envelope, ..r.clone() }),
            InventoryEvent::HoldExpired(h) => InventoryEvent::HoldExpired(HoldExpired { envelope, ..h.clone() }),
            _ => return Ok(()),
        };
        ctx.emit(key, out);
        Ok(())
    }
    fn on_timer(&self, _: &mut (), _: &str, _: &mut Ctx<InventoryEvent>) {}
}

/// Declares it reads `answers` but expects commands: the mismatch a topology test must catch.
#[derive(Default)]
struct Strict;

impl Processor for Strict {
    type State = ();
    type Input = InventoryCommand;
    type Output = InventoryEvent;
    fn name(&self) -> &'static str {
        "strict"
    }
    fn handle(&self, _: &mut (), _: &InventoryCommand, _: &mut Ctx<InventoryEvent>) -> Result<(), Rejection> {
        Ok(())
    }
    fn on_timer(&self, _: &mut (), _: &str, _: &mut Ctx<InventoryEvent>) {}
}

fn driver(with_strict: bool) -> TopologyDriver {
    let topology = Topology::parse(TOPOLOGY, "").unwrap();
    let d = TopologyDriver::new(topology, &souk_schemas::Catalog::builtin().unwrap()).unwrap().with_processor("counter", Counter).unwrap().with_processor("relay", Relay).unwrap();
    if with_strict {
        d.with_processor("strict", Strict).unwrap()
    } else {
        d
    }
}

fn reserve(n: u32, meters: i64, at: i64) -> InventoryCommand {
    InventoryCommand::ReserveRequested(ReserveRequested {
        envelope: Envelope::external("t", &format!("r{n}"), at),
        hold_id: format!("h{n}"),
        order_id: format!("o{n}"),
        line_id: "1".into(),
        meters: Decimal::new(meters, 0),
        ttl_ms: 1,
        reply_to: None,
    })
}

#[test]
fn outputs_flow_to_their_readers_as_avro_bytes() {
    let mut d = driver(false);
    for n in 0..3 {
        d.pipe("requests", "t|cotton|blue", &reserve(n, 10, 1_000 + n as i64)).unwrap();
    }
    // Every record is Confluent-framed Avro (magic byte 0, schema id), also between processors.
    assert!(d.records("answers").iter().chain(d.records("audit")).all(|r| r.value[0] == 0 && r.value.len() > 5));
    let audit: Vec<(String, InventoryEvent)> = d.read("audit").unwrap();
    let counts: Vec<Decimal> = audit
        .iter()
        .map(|(_, e)| match e {
            InventoryEvent::ReserveRejected(r) => r.available_meters,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(counts, vec![Decimal::from(1), Decimal::from(2), Decimal::from(3)]);
    assert!(audit.iter().all(|(k, _)| k == "t|cotton|blue"));
    // One key stays on one partition, offsets count up per partition.
    let answers = d.records("answers");
    assert!(answers.iter().all(|r| r.partition == answers[0].partition));
    assert_eq!(answers.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(d.processor::<Counter>("counter").state("t|cotton|blue"), 3);
    assert!(d.dead_letters.is_empty(), "{:?}", d.dead_letters);
}

#[test]
fn a_tick_fires_timers_in_every_partition_and_their_outputs_are_routed() {
    let mut d = driver(false);
    d.pipe("requests", "t|silk|red", &reserve(1, 5, 1_000)).unwrap();
    d.pipe("requests", "t|wool|grey", &reserve(2, 5, 1_000)).unwrap();
    d.tick("requests", 10_000).unwrap();
    assert_eq!(d.records("requests").iter().filter(|r| r.key == souk_schemas::clock::TICK_KEY).count(), 4);
    let expired: Vec<String> = d
        .read::<InventoryEvent>("audit")
        .unwrap()
        .into_iter()
        .filter_map(|(_, e)| match e {
            InventoryEvent::HoldExpired(h) => Some(h.hold_id),
            _ => None,
        })
        .collect();
    assert_eq!(expired.len(), 2, "{expired:?}");
}

#[test]
fn a_record_its_reader_cannot_decode_is_a_dead_letter_and_rejections_are_too() {
    let mut d = driver(true);
    d.pipe("requests", "t|cotton|blue", &reserve(1, 10, 1_000)).unwrap();
    d.pipe("requests", "t|cotton|blue", &reserve(2, -1, 1_001)).unwrap();
    let by: Vec<(&str, &str)> = d.dead_letters.iter().map(|l| (l.component.as_str(), l.topic.as_str())).collect();
    assert_eq!(by, vec![("strict", "answers"), ("counter", "requests")], "{:?}", d.dead_letters);
    assert!(d.dead_letters[0].error.contains("cannot read"), "{}", d.dead_letters[0].error);
    assert!(d.dead_letters[1].error.contains("NEGATIVE_METERS"), "{}", d.dead_letters[1].error);
    // The relay still got its copy: one reader's failure does not stop the others.
    assert_eq!(d.records("audit").len(), 1);
}

#[test]
fn an_input_that_does_not_fit_the_topic_is_an_error_of_the_test() {
    let mut d = driver(false);
    let answer = InventoryEvent::HoldExpired(HoldExpired { envelope: Envelope::external("t", "x", 1), hold_id: "h".into(), order_id: String::new(), line_id: String::new() });
    assert!(d.pipe("requests", "t|a|b", &answer).is_err());
}
