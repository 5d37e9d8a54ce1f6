//! One module per command.

pub mod bench;
pub mod bench_hooks;
pub mod bench_push;
pub mod bench_scale;
pub mod bench_server;
pub mod bench_sse;
pub mod dead_letters;
pub mod demo;
pub mod ingest;
pub mod order;
pub mod publish;
pub mod serve;
pub mod worker;
