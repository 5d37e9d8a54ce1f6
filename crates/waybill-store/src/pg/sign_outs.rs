//! Signed-out dashboard sessions on PostgreSQL (see `crate::sign_outs`).

use deadpool_postgres::{Client, Transaction};

use crate::StoreError;
use crate::model::sign_out::SignOut;

pub(crate) async fn record(tx: &Transaction<'_>, s: &SignOut) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM signed_out WHERE until <= $1",
        &[&s.at.as_micros()],
    )
    .await?;
    tx.execute(
        "INSERT INTO signed_out (nonce, until) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING",
        &[&s.nonce, &s.until.as_micros()],
    )
    .await?;
    Ok(())
}

pub(crate) async fn is_signed_out(client: &Client, nonce: &str) -> Result<bool, StoreError> {
    Ok(client
        .query_opt("SELECT 1 FROM signed_out WHERE nonce = $1", &[&nonce])
        .await?
        .is_some())
}
