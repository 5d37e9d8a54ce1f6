//! `waybill replay`: rebuilds every projection from the event log.

use crate::settings::Settings;

pub fn main(settings: &Settings) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let n = match settings.scale.postgres(false) {
        Some(pg) => super::runtime()?
            .block_on(async { waybill_store::PgStore::connect(&pg).await?.replay().await })?,
        None => waybill_store::replay(&settings.data)?,
    };
    println!("replayed {n} events in {:.1?}", started.elapsed());
    Ok(())
}
