//! The `waybill` binary: parses the command line, resolves settings, and hands both to
//! the command's `main` in `cmd/`.

mod cli;
mod cmd;
mod out;
mod settings;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// mimalloc for Rust and, through its `override` feature, for SQLite's C code too: the
/// writer allocates and frees small buffers for every bound value, and glibc's malloc
/// was a sixth of its instructions.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, ConfigFile, DataDir};
use crate::settings::{FileConfig, Settings};

/// An error ends the command with one line on stderr and exit status 1: the reason and
/// its causes, never a backtrace (even with `RUST_BACKTRACE` set), which is for bugs.
fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if out::is_stdout_closed(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("WAYBILL_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // A command's own --data/--config win over those given before it.
    let (outer_data, outer_config) = (cli.data, cli.config);
    let place =
        |data: Option<&DataDir>, config: &ConfigFile| -> (Option<PathBuf>, Option<PathBuf>) {
            (
                data.and_then(|d| d.data.clone()).or(outer_data.clone()),
                config.config.clone().or(outer_config.clone()),
            )
        };
    let settings = |(data, config): (Option<PathBuf>, Option<PathBuf>),
                    addr: Option<String>,
                    public_url: Option<String>|
     -> anyhow::Result<Settings> {
        let file = FileConfig::load(config.as_deref())?;
        Settings::resolve(data, addr, public_url, file)
    };
    match cli.command {
        Command::Serve(a) => {
            let s = settings(place(Some(&a.data), &a.config), a.addr, a.public_url)?;
            cmd::serve::main(s, a.demo)
        }
        Command::Publish(a) => {
            cmd::publish::main(&settings(place(None, &a.config), None, None)?, &a.files)
        }
        Command::DeadLetters(a) => {
            cmd::dead_letters::main(&settings(place(None, &a.config), None, None)?, &a)
        }
        Command::Worker(a) => cmd::worker::main(settings(place(None, &a.config), None, None)?, a),
        Command::Ingest(a) => {
            cmd::ingest::main(settings(place(Some(&a.data), &a.config), None, None)?, &a)
        }
        Command::Order(a) => {
            let s = settings(place(Some(&a.data), &a.config), None, None)?;
            cmd::order::main(&s, &a.order_id)
        }
        Command::Replay(a) => {
            cmd::replay::main(&settings(place(Some(&a.data), &a.config), None, None)?)
        }
        Command::Loadgen(a) => cmd::generate::loadgen(&a),
        Command::Bench(a) => cmd::runtime()?.block_on(cmd::bench::run(a)),
        Command::Soak(a) => cmd::runtime()?.block_on(cmd::bench::soak(a)),
        Command::Openapi => cmd::generate::openapi(),
    }
}
