//! `waybill replay`: rebuilds every projection from the event log.

use crate::out::say;
use crate::settings::Settings;

pub fn main(settings: &Settings) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let n = super::store::replay(settings)?;
    say!("replayed {n} events in {:.1?}", started.elapsed());
    Ok(())
}
