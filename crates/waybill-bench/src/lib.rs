//! Waybill's benchmark and its workload, apart from the product: `waybill bench` and
//! `waybill generate` call in here, and the demo draws its traffic from [`loadgen`].
//!
//! - [`loadgen`]: the synthetic workload (orders, carriers, realistic paths and
//!   timings, duplicates and disorder), deterministic by seed.
//! - [`bench`]: the phases and the report; `bench_server`, `bench_push`,
//!   `bench_hooks`, `bench_sse`, `bench_pg` and `bench_scale` are its HTTP, provider,
//!   webhook, stream, PostgreSQL and scale-out parts.
//!
//! - [`soak`]: `waybill soak`, a long run against a `waybill serve` child, reported
//!   per interval (memory, open files, the log, latency).
//!
//! Figures and how to reproduce them: BENCHMARKS.md.

pub mod bench;
mod bench_hooks;
mod bench_overload;
mod bench_pg;
mod bench_push;
mod bench_scale;
mod bench_server;
mod bench_sse;
mod child;
pub mod loadgen;
pub mod soak;

pub use bench::{Options, run};
