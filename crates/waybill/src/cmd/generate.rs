//! `waybill loadgen` and `waybill openapi`: files made from nothing but the build (a
//! synthetic workload, the OpenAPI document).

use crate::cli::LoadgenArgs;
use waybill_bench::loadgen;

/// `waybill loadgen --orders N --out FILE`.
pub fn loadgen(args: &LoadgenArgs) -> anyhow::Result<()> {
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

/// `waybill openapi`.
pub fn openapi() -> anyhow::Result<()> {
    println!("{}", waybill_server::openapi().to_pretty_json()?);
    Ok(())
}
