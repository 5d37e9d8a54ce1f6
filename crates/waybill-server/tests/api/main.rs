//! Black-box tests of the HTTP API: a real server on a real socket, a real SQLite store.

mod dashboard;
mod email;
mod helpers;
mod ingest;
mod linking;
mod operations;
mod orders;
mod providers;
mod roles;
mod streams;
mod subscriptions;
mod track;
mod transport;
mod webhooks;
