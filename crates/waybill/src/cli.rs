//! The command line, as clap sees it. Raw arguments only: [`crate::settings`] turns them,
//! the environment and the config file into validated settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "waybill",
    version,
    about = "Order tracking and logistics event processing"
)]
pub struct Cli {
    /// Data directory of the embedded store (default: ./waybill-data). May also follow
    /// the command that uses it, which then lists it.
    #[arg(long, env = "WAYBILL_DATA")]
    pub data: Option<PathBuf>,
    /// TOML configuration file (default: ./waybill.toml if it exists). May also follow
    /// the command that uses it.
    #[arg(long, env = "WAYBILL_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the embedded store lives. (No `env` here: the variable is read once, above,
/// so that a flag before the command still beats it.)
#[derive(Debug, Clone, Args)]
pub struct DataDir {
    /// Data directory of the embedded store (default: ./waybill-data, or WAYBILL_DATA).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// The settings file.
#[derive(Debug, Clone, Args)]
pub struct ConfigFile {
    /// TOML configuration file (default: WAYBILL_CONFIG, or ./waybill.toml if it exists).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service.
    Serve(ServeArgs),
    /// Load events from NDJSON, JSON array or CSV files.
    Ingest(IngestArgs),
    /// Show an order's status and timeline.
    Order(OrderArgs),
    /// Rebuild every projection from the event log (stop the server first; on
    /// PostgreSQL, writers wait while it runs).
    Replay(ReplayArgs),
    /// Write a realistic synthetic workload as NDJSON.
    Loadgen(LoadgenArgs),
    /// Run the standard benchmark and print a report.
    Bench(BenchArgs),
    /// Run the service for N minutes under steady traffic (ingest, streams, webhooks,
    /// reads) and report memory, open files, the log and latency per interval.
    Soak(SoakArgs),
    /// Print the OpenAPI document.
    Openapi,
    /// Apply events from RabbitMQ to PostgreSQL (scale-out; see docs/scaling.md).
    Worker(WorkerArgs),
    /// Publish events from files to RabbitMQ's waybill.intake, as a producer would.
    Publish(PublishArgs),
    /// Show the messages no worker could apply (waybill.intake.dead), and why.
    DeadLetters(DeadLettersArgs),
}

#[derive(Debug, Args)]
pub struct DeadLettersArgs {
    /// Publish each to waybill.intake again (once fixed), removing it from the dead letters.
    #[arg(long)]
    pub replay: bool,
    /// Most messages to show.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    #[command(flatten)]
    pub config: ConfigFile,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Files of events: .ndjson/.jsonl, .json (array) or .csv.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub config: ConfigFile,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// This worker's number, from 0: it takes the partitions p with p % workers == index
    /// at once, and stands by for the others.
    #[arg(long, env = "WAYBILL_WORKER_INDEX", default_value_t = 0)]
    pub index: u16,
    /// How many workers share the partitions.
    #[arg(long, env = "WAYBILL_WORKERS", default_value_t = 1)]
    pub workers: u16,
    /// Unacknowledged messages per partition.
    #[arg(long, default_value_t = 500)]
    pub prefetch: u16,
    /// Most messages applied in one transaction.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Where the worker answers `/livez`, `/readyz` and `/metrics` (port 0: any free
    /// port; the log line "worker started" names it).
    #[arg(long, env = "WAYBILL_WORKER_ADDR", default_value = "127.0.0.1:0")]
    pub health_addr: String,
    #[command(flatten)]
    pub config: ConfigFile,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "WAYBILL_ADDR")]
    pub addr: Option<String>,
    /// Feed a steady stream of synthetic orders into the running service.
    #[arg(long)]
    pub demo: bool,
    /// Base URL for links handed out (tracking_url).
    #[arg(long, env = "WAYBILL_PUBLIC_URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub data: DataDir,
    #[command(flatten)]
    pub config: ConfigFile,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files to load: .ndjson/.jsonl, .json (array) or .csv (header row of field names).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Send to a running server instead of writing the embedded store: its base URL,
    /// e.g. http://127.0.0.1:8080.
    #[arg(long, env = "WAYBILL_SERVER")]
    pub server: Option<String>,
    /// API key for --server (role ingest or admin).
    #[arg(long, env = "WAYBILL_API_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Events per batch.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    #[command(flatten)]
    pub data: DataDir,
    #[command(flatten)]
    pub config: ConfigFile,
}

#[derive(Debug, Args)]
pub struct OrderArgs {
    /// The order's id, as it was created.
    pub order_id: String,
    #[command(flatten)]
    pub data: DataDir,
    #[command(flatten)]
    pub config: ConfigFile,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub data: DataDir,
    #[command(flatten)]
    pub config: ConfigFile,
}

#[derive(Debug, Args)]
pub struct LoadgenArgs {
    /// Orders to generate (about ten events each).
    #[arg(long, default_value_t = 1000)]
    pub orders: usize,
    /// The NDJSON file to write, or - for standard output.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of the generator: the same seed writes the same file.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Orders in the workload (about ten events each).
    #[arg(long, default_value_t = 100_000)]
    pub orders: usize,
    /// Events sent over HTTP (the first N of the workload).
    #[arg(long, default_value_t = 300_000)]
    pub http_events: usize,
    /// Concurrent HTTP clients (group commit grows with them).
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Streams opened by the `sse` phase.
    #[arg(long, default_value_t = 1000)]
    pub sse_clients: usize,
    /// Events through RabbitMQ in the `scale` phase (for each worker count).
    #[arg(long, default_value_t = 30_000)]
    pub scale_events: usize,
    /// Which parts to run, comma-separated: parse, providers, bulk, naive, http,
    /// webhooks, sse; overload (ingest at twice what the server sustains); pg (needs WAYBILL_DATABASE_URL); and scale (needs
    /// WAYBILL_DATABASE_URL, WAYBILL_AMQP_URL and optionally WAYBILL_REDIS_URL; see
    /// docs/scaling.md).
    #[arg(
        long,
        default_value = "parse,providers,bulk,naive,http,webhooks,sse",
        value_delimiter = ','
    )]
    pub phases: Vec<String>,
    /// Where the benchmark's stores go (a fresh temporary directory by default).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SoakArgs {
    /// How long to run, in minutes (fractions allowed).
    #[arg(long, default_value_t = 60.0)]
    pub minutes: f64,
    /// Events a second offered, in batches of 20.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Firehose streams held open for the whole run.
    #[arg(long, default_value_t = 20)]
    pub streams: usize,
    /// Seconds between two reports.
    #[arg(long, default_value_t = 60)]
    pub report_secs: u64,
    /// The server's data directory (a fresh temporary one, removed afterwards, by
    /// default).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// Every command, argument and option says what it is in `--help`.
    #[test]
    fn everything_in_the_help_has_a_description() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let here = format!("{path} {}", cmd.get_name());
            if cmd.get_about().is_none() && !path.is_empty() {
                missing.push(here.clone());
            }
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() {
                    missing.push(format!("{here} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() != "help" {
                    walk(sub, &here, missing);
                }
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "no description: {missing:?}");
    }

    /// A command lists only the options it reads: no store or settings file where none
    /// is opened.
    #[test]
    fn commands_list_only_the_options_they_use() {
        let cli = Cli::command();
        let has = |name: &str, id: &str| {
            cli.find_subcommand(name)
                .unwrap()
                .get_arguments()
                .any(|a| a.get_id() == id)
        };
        for pure in ["openapi", "loadgen", "bench", "soak"] {
            assert!(!has(pure, "data") && !has(pure, "config"), "{pure}");
        }
        for stored in ["serve", "ingest", "order", "replay"] {
            assert!(has(stored, "data") && has(stored, "config"), "{stored}");
        }
        for broker in ["worker", "publish", "dead-letters"] {
            assert!(!has(broker, "data") && has(broker, "config"), "{broker}");
        }
    }
}
