//! One module per command; each has a `main` that `main.rs` calls with the command's
//! arguments and the resolved settings.

pub mod bench;
pub mod dead_letters;
pub mod demo;
pub mod generate;
pub mod ingest;
pub mod order;
pub mod publish;
pub mod replay;
pub mod serve;
pub mod store;
pub mod table;
pub mod worker;

/// The runtime the async commands run on.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}
