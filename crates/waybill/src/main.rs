//! The `waybill` binary: parses the command line, resolves settings, runs a command.

mod cli;
mod cmd;
mod loadgen;
mod settings;

use clap::Parser;

/// mimalloc for Rust and, through its `override` feature, for SQLite's C code too: the
/// writer allocates and frees small buffers for every bound value, and glibc's malloc
/// was a sixth of its instructions.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};
use crate::settings::{FileConfig, Settings};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("WAYBILL_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let file = FileConfig::load(cli.config.as_deref())?;
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    match cli.command {
        Command::Serve(args) => {
            let settings = Settings::resolve(cli.data, args.addr, args.public_url, file)?;
            runtime()?.block_on(cmd::serve::run(settings, args.demo))
        }
        Command::Publish(args) => {
            let settings = Settings::resolve(cli.data, None, None, file)?;
            let url = settings
                .scale
                .amqp_url
                .clone()
                .ok_or_else(|| anyhow::anyhow!("waybill publish needs WAYBILL_AMQP_URL"))?;
            let n = runtime()?.block_on(cmd::publish::run(
                &url,
                settings.scale.partitions,
                &args.files,
            ))?;
            println!("published {n} events (confirmed by the broker)");
            Ok(())
        }
        Command::DeadLetters(args) => {
            let settings = Settings::resolve(cli.data, None, None, file)?;
            let url =
                settings.scale.amqp_url.clone().ok_or_else(|| {
                    anyhow::anyhow!("waybill dead-letters needs WAYBILL_AMQP_URL")
                })?;
            runtime()?.block_on(cmd::dead_letters::run(
                &url,
                settings.scale.partitions,
                args.replay,
                args.limit,
            ))
        }
        Command::Worker(args) => {
            let settings = Settings::resolve(cli.data, None, None, file)?;
            runtime()?.block_on(cmd::worker::run(settings, args))
        }
        Command::Ingest(args) => {
            let settings = Settings::resolve(cli.data, None, None, file)?;
            let totals = match &args.server {
                Some(server) => {
                    let key = args.key.as_deref().ok_or_else(|| {
                        anyhow::anyhow!("--server needs --key (or WAYBILL_API_KEY)")
                    })?;
                    runtime()?.block_on(cmd::ingest::to_server(
                        server,
                        key,
                        &args.files,
                        args.batch,
                    ))?
                }
                None if settings.scale.database_url.is_some() => anyhow::bail!(
                    "waybill ingest loads the embedded store; with WAYBILL_DATABASE_URL set, \
                     send the files through the broker (waybill publish) or to a server \
                     (--server)"
                ),
                None => {
                    let store = cmd::ingest::open_store(&settings.data, settings.writer)?;
                    cmd::ingest::into_store(&store, &args.files, args.batch)?
                }
            };
            println!(
                "accepted {}, duplicates {}, rejected {}",
                totals.accepted, totals.duplicates, totals.rejected
            );
            Ok(())
        }
        Command::Order(args) => {
            let settings = Settings::resolve(cli.data, None, None, file)?;
            match settings.scale.postgres(true) {
                Some(pg) => runtime()?.block_on(cmd::order::from_postgres(&pg, &args.order_id)),
                None => cmd::order::run(&settings.data, &args.order_id),
            }
        }
        Command::Replay => {
            let settings = Settings::resolve(cli.data, None, None, file)?;
            let started = std::time::Instant::now();
            let n = match settings.scale.postgres(false) {
                Some(pg) => runtime()?.block_on(async {
                    waybill_store::PgStore::connect(&pg).await?.replay().await
                })?,
                None => waybill_store::replay(&settings.data)?,
            };
            println!("replayed {n} events in {:.1?}", started.elapsed());
            Ok(())
        }
        Command::Loadgen(args) => {
            let opts = loadgen::LoadgenOptions {
                orders: args.orders,
                seed: args.seed,
                ..loadgen::LoadgenOptions::default()
            };
            let mut out = std::io::BufWriter::new(std::fs::File::create(&args.out)?);
            let n = loadgen::write_ndjson(&opts, &mut out)?;
            println!(
                "wrote {n} events for {} orders to {}",
                args.orders,
                args.out.display()
            );
            Ok(())
        }
        Command::Bench(args) => runtime()?.block_on(cmd::bench::run(args)),
        Command::Openapi => {
            println!("{}", waybill_server::openapi().to_pretty_json()?);
            Ok(())
        }
    }
}
