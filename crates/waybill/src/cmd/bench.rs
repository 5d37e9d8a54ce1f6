//! `waybill bench` and `waybill soak`: both live in the `waybill-bench` crate; this
//! hands them the flags.

use crate::cli::{BenchArgs, SoakArgs};

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

pub async fn soak(args: SoakArgs) -> anyhow::Result<()> {
    waybill_bench::soak::run(waybill_bench::soak::SoakOptions {
        minutes: args.minutes,
        rate: args.rate,
        streams: args.streams,
        report_secs: args.report_secs,
        dir: args.dir,
    })
    .await
}
