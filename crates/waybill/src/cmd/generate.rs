//! `waybill loadgen` and `waybill openapi`: files made from nothing but the build (a
//! synthetic workload, the OpenAPI document).

use std::io::Write;

use anyhow::Context;

use crate::cli::LoadgenArgs;
use crate::out::say;
use waybill_bench::loadgen;

/// `waybill loadgen --orders N --out FILE`.
pub fn loadgen(args: &LoadgenArgs) -> anyhow::Result<()> {
    let opts = loadgen::LoadgenOptions {
        orders: args.orders,
        seed: args.seed,
        ..loadgen::LoadgenOptions::default()
    };
    // `--out -` is standard output; the line saying what was written then goes to
    // stderr, so that the events can be piped on alone.
    if args.out.as_os_str() == "-" {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let n = loadgen::write_ndjson(&opts, &mut out).map_err(crate::out::on_stdout)?;
        out.flush().map_err(crate::out::on_stdout)?;
        eprintln!("wrote {n} events for {} orders", args.orders);
        return Ok(());
    }
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let n = loadgen::write_ndjson(&opts, &mut out)?;
    out.flush()?;
    say!(
        "wrote {n} events for {} orders to {}",
        args.orders,
        args.out.display()
    );
    Ok(())
}

/// `waybill openapi`.
pub fn openapi() -> anyhow::Result<()> {
    say!("{}", waybill_server::openapi().to_pretty_json()?);
    Ok(())
}
