//! What both backends share: the store's vocabulary. Submissions and what became of
//! each item, the records reads return, the outbox's domain events, subscriptions and
//! deliveries, kept pushes, sign-outs, the dashboard's overview, and how an event and
//! its shipment's seqs go into columns. Nothing here touches a database.

pub mod columns;
pub mod details;
pub mod hooks;
pub mod outbox;
pub mod overview;
pub mod quarantine;
pub mod records;
pub mod sign_out;
pub mod submission;
