//! One module per command.

pub mod bench;
pub mod demo;
pub mod ingest;
pub mod order;
pub mod serve;
