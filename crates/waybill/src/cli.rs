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
    /// Data directory of the embedded store.
    #[arg(long, global = true, env = "WAYBILL_DATA")]
    pub data: Option<PathBuf>,
    /// TOML configuration file (default: ./waybill.toml if it exists).
    #[arg(long, global = true, env = "WAYBILL_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
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
    Replay,
    /// Write a realistic synthetic workload as NDJSON.
    Loadgen(LoadgenArgs),
    /// Run the standard benchmark and print a report.
    Bench(BenchArgs),
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
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Files of events: .ndjson/.jsonl, .json (array) or .csv.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
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
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files to load: .ndjson/.jsonl, .json (array) or .csv (header row of field names).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Send to a running server instead of writing the embedded store.
    #[arg(long, env = "WAYBILL_SERVER")]
    pub server: Option<String>,
    /// API key for --server (role ingest or admin).
    #[arg(long, env = "WAYBILL_API_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Events per batch.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
}

#[derive(Debug, Args)]
pub struct OrderArgs {
    pub order_id: String,
}

#[derive(Debug, Args)]
pub struct LoadgenArgs {
    #[arg(long, default_value_t = 1000)]
    pub orders: usize,
    #[arg(long)]
    pub out: PathBuf,
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
    /// webhooks, sse; pg (needs WAYBILL_DATABASE_URL); and scale (needs
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
