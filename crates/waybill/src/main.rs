//! The `waybill` binary: parses the command line, resolves settings, and hands both to
//! the command's `main` in `cmd/`.

mod cli;
mod cmd;
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
    let settings = |addr, public_url, file| Settings::resolve(cli.data, addr, public_url, file);
    match cli.command {
        Command::Serve(a) => cmd::serve::main(settings(a.addr, a.public_url, file)?, a.demo),
        Command::Publish(a) => cmd::publish::main(&settings(None, None, file)?, &a.files),
        Command::DeadLetters(a) => cmd::dead_letters::main(&settings(None, None, file)?, &a),
        Command::Worker(a) => cmd::worker::main(settings(None, None, file)?, a),
        Command::Ingest(a) => cmd::ingest::main(settings(None, None, file)?, &a),
        Command::Order(a) => cmd::order::main(&settings(None, None, file)?, &a.order_id),
        Command::Replay => cmd::replay::main(&settings(None, None, file)?),
        Command::Loadgen(a) => cmd::generate::loadgen(&a),
        Command::Bench(a) => cmd::runtime()?.block_on(cmd::bench::run(a)),
        Command::Openapi => cmd::generate::openapi(),
    }
}
