//! `souk`: the command line of the souk pipeline — declare and apply the topology, inspect the log,
//! run every processor and sink, and measure throughput.

mod commands;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// souk: a Kafka-native backbone for conversational commerce.
#[derive(Parser, Debug)]
#[command(name = "souk", version, about)]
struct Cli {
    /// The topology file.
    #[arg(long, global = true, default_value = "topology.toml", env = "SOUK_TOPOLOGY")]
    topology: PathBuf,
    /// Extra or replacement `.avsc` files (a new schema version under development).
    #[arg(long, global = true, env = "SOUK_SCHEMAS_DIR")]
    schemas: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The main job: bring up the stack, start everything, play the WhatsApp textile-ordering story,
    /// print the transcript and projections, and serve the read API until Ctrl-C.
    Demo(commands::demo::DemoArgs),
    /// Validate or apply topology.toml.
    Topology {
        #[command(subcommand)]
        action: TopologyAction,
    },
    /// Produce JSON lines from stdin as Avro records (`KEY<TAB>JSON` or `JSON` per line).
    Produce(commands::log::ProduceArgs),
    /// Print a topic's records as JSON lines.
    Consume(commands::log::ConsumeArgs),
    /// Apply the topology and run every declared processor, sink and producer until Ctrl-C.
    Run(commands::run::RunArgs),
    /// Throughput of the inventory processor vs a raw consume→produce pass-through.
    Bench(commands::bench::BenchArgs),
    /// What the offline NLU makes of a customer message against a tenant's catalog (as JSON).
    Intent(commands::intent::IntentArgs),
}

#[derive(Subcommand, Debug)]
enum TopologyAction {
    /// Check references, schemas and co-partitioning; errors name the line.
    Check,
    /// Create missing topics and register schemas (BACKWARD-compatible only). Idempotent.
    Apply,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SOUK_LOG").unwrap_or_else(|_| "info,rdkafka=warn,librdkafka=warn".into()))
        // Personal data never reaches a log unmasked (rules PR5).
        .with_writer(|| souk_runtime::pii::MaskingWriter::new(std::io::stderr()))
        .init();
    let cli = Cli::parse();
    if let Some(dir) = &cli.schemas {
        commands::set_schema_dir(dir.clone());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Topology { action: TopologyAction::Check } => commands::topology::check(&cli.topology),
            Command::Topology { action: TopologyAction::Apply } => commands::topology::apply(&cli.topology).await,
            Command::Produce(args) => commands::log::produce(&cli.topology, args).await,
            Command::Consume(args) => commands::log::consume(&cli.topology, args).await,
            Command::Demo(args) => commands::demo::demo(&cli.topology, args).await,
            Command::Run(args) => commands::run::run(&cli.topology, args).await,
            Command::Bench(args) => commands::bench::bench(&cli.topology, args).await,
            Command::Intent(args) => commands::intent::intent(&cli.topology, args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("souk: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
