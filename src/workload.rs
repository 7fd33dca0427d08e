//! A deterministic inventory workload (seeded): batches for many pools, then a mix of reserve,
//! commit and release requests — some redelivered — used by `souk bench` and the end-to-end tests.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use souk_schemas::inventory::*;
use souk_schemas::Envelope;

/// One keyed command to produce.
#[derive(Debug, Clone)]
pub struct KeyedCommand {
    /// `<tenant>|<material>|<color>`.
    pub key: String,
    /// The command.
    pub command: InventoryCommand,
}

/// Knobs of the workload.
#[derive(Debug, Clone)]
pub struct WorkloadSpec {
    /// Tenant id used for every pool.
    pub tenant: String,
    /// Number of distinct pools (material × color keys).
    pub pools: usize,
    /// Total commands, batches included.
    pub commands: usize,
    /// Seed; the same seed gives the same commands.
    pub seed: u64,
    /// Event time of the first command (epoch ms); each command is 1 s later than the previous.
    pub start_ms: i64,
}

const MATERIALS: [&str; 8] = ["cotton", "silk", "linen", "rayon", "denim", "chiffon", "georgette", "khadi"];
const COLORS: [&str; 8] = ["blue", "red", "white", "black", "green", "yellow", "maroon", "beige"];

/// Generates the workload: every pool first receives two batches, then requests follow.
pub fn generate(spec: &WorkloadSpec) -> Vec<KeyedCommand> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let pools: Vec<(String, String)> = (0..spec.pools).map(|i| (format!("{}{}", MATERIALS[i % 8], i / 64), COLORS[(i / 8) % 8].to_string())).collect();
    let mut out = Vec::with_capacity(spec.commands);
    let mut t = spec.start_ms;
    let next_env = |source: String, t: &mut i64| {
        *t += 1000;
        Envelope::external(&spec.tenant, &source, *t)
    };
    for (i, (material, color)) in pools.iter().enumerate() {
        for b in 0..2 {
            let key = souk_schemas::key::PoolKey::of(&spec.tenant, material, color);
            let env = next_env(format!("batch-{i}-{b}"), &mut t);
            out.push(KeyedCommand {
                key,
                command: InventoryCommand::BatchReceived(BatchReceived {
                    envelope: env,
                    batch_id: format!("B{i:04}-{b}"),
                    material: material.clone(),
                    color: color.clone(),
                    dye_lot: Some(format!("LOT{b}")),
                    rolls: 40,
                    meters_per_roll: Decimal::new(25, 0),
                    loose_meters: Decimal::new(1250, 1),
                    price_per_meter: Some(Decimal::new(18550, 2)),
                    received_at: spec.start_ms + b as i64,
                }),
            });
        }
    }
    let mut open: Vec<Vec<String>> = vec![Vec::new(); pools.len()];
    let mut n = 0u64;
    while out.len() < spec.commands {
        let i = rng.random_range(0..pools.len());
        let (material, color) = &pools[i];
        let key = souk_schemas::key::PoolKey::of(&spec.tenant, material, color);
        let roll = rng.random_range(0..100);
        n += 1;
        let command = if open[i].is_empty() || roll < 50 {
            let hold_id = format!("H{i:04}-{n}");
            open[i].push(hold_id.clone());
            InventoryCommand::ReserveRequested(ReserveRequested {
                envelope: next_env(format!("reserve-{hold_id}"), &mut t),
                hold_id,
                order_id: format!("O{n}"),
                line_id: "1".into(),
                meters: Decimal::new(rng.random_range(10..=6000), 1),
                ttl_ms: 3_600_000,
                reply_to: None,
            })
        } else if roll < 80 {
            let pick = rng.random_range(0..open[i].len());
            let hold_id = open[i].remove(pick);
            InventoryCommand::CommitRequested(CommitRequested { envelope: next_env(format!("commit-{hold_id}"), &mut t), hold_id, reply_to: None })
        } else if roll < 95 {
            let pick = rng.random_range(0..open[i].len());
            let hold_id = open[i].remove(pick);
            InventoryCommand::ReleaseRequested(ReleaseRequested { envelope: next_env(format!("release-{hold_id}"), &mut t), hold_id, reason: "customer cancelled".into(), reply_to: None })
        } else {
            // A redelivery: same source id ⇒ same event id; the processor must apply it once.
            let Some(prev) = out.iter().rev().find(|c| c.key == key && !matches!(c.command, InventoryCommand::BatchReceived(_))) else { continue };
            out.push(prev.clone());
            continue;
        };
        out.push(KeyedCommand { key, command });
    }
    out.truncate(spec.commands);
    out
}

/// Encodes and produces commands to `topic` (by key, murmur2), waiting for every ack.
pub async fn produce_commands(producer: &rdkafka::producer::FutureProducer, codec: &souk_runtime::codec::Codec, topic: &str, commands: &[KeyedCommand]) -> anyhow::Result<()> {
    use souk_runtime::kafka::{send_all, OutRecord};
    use souk_schemas::StreamEvent;
    for chunk in commands.chunks(5000) {
        let mut records = Vec::with_capacity(chunk.len());
        for c in chunk {
            let payload = codec.encode(topic, &c.command).await?;
            records.push(OutRecord::event(topic, &c.key, payload, c.command.envelope()));
        }
        send_all(producer, records).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_workload() {
        let spec = WorkloadSpec { tenant: "t".into(), pools: 16, commands: 500, seed: 7, start_ms: 0 };
        let a: Vec<String> = generate(&spec).iter().map(|c| format!("{:?}", c.command)).collect();
        let b: Vec<String> = generate(&spec).iter().map(|c| format!("{:?}", c.command)).collect();
        assert_eq!(a, b);
        assert_eq!(a.len(), 500);
    }
}
