//! One module per command.

pub mod bench;
pub mod bench_push;
pub mod demo;
pub mod ingest;
pub mod order;
pub mod serve;
