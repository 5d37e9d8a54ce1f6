//! `waybill bench`: the benchmark lives in the `waybill-bench` crate; this hands it
//! the flags.

use crate::cli::BenchArgs;

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    waybill_bench::run(waybill_bench::Options {
        orders: args.orders,
        http_events: args.http_events,
        clients: args.clients,
        sse_clients: args.sse_clients,
        scale_events: args.scale_events,
        phases: args.phases,
        dir: args.dir,
    })
    .await
}
