//! The engines that run beside the API — the stream hub that follows the outbox, and
//! the delivery engine that sends webhooks and e-mail — started in one place and
//! stopped together.
//!
//! A stop asks both to end and waits up to a grace period: the hub ends at once, the
//! delivery engine takes no new round and lets its sends in flight finish and record
//! their results. Whatever is still running then is cut off. Nothing is lost by that:
//! an attempt whose result was not recorded leaves its delivery due, and it is sent
//! again after the restart (delivery is at least once; receivers deduplicate on the
//! message id, which is the same on every attempt).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use waybill_store::Store;

use crate::delivery::{DeliverySettings, Dispatcher};
use crate::streams::{Hub, StreamSettings};

/// The running engines; clones share them.
#[derive(Clone)]
pub struct Engines {
    /// The broadcast of domain events that streams follow.
    pub hub: Hub,
    /// The outbound webhook and e-mail engine.
    pub deliveries: Dispatcher,
    stop: Arc<watch::Sender<bool>>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Engines {
    /// Starts both. Must run inside a tokio runtime.
    pub fn start(store: &Store, streams: StreamSettings, deliveries: DeliverySettings) -> Self {
        let (stop, stopped) = watch::channel(false);
        let (hub, hub_task) = Hub::start(store, streams, stopped.clone());
        let (dispatcher, delivery_task) = Dispatcher::start(store, deliveries, stopped);
        Self {
            hub,
            deliveries: dispatcher,
            stop: Arc::new(stop),
            tasks: Arc::new(Mutex::new(vec![hub_task, delivery_task])),
        }
    }

    /// Stops both, waiting at most `grace` for work in flight; what is still running
    /// then is cut off.
    pub async fn stop(&self, grace: Duration) {
        let _ = self.stop.send(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().expect("not poisoned"));
        let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
        let ended = tokio::time::timeout(grace, async {
            for t in tasks {
                let _ = t.await;
            }
        })
        .await
        .is_ok();
        if !ended {
            tracing::warn!(
                ?grace,
                "engines still busy at shutdown: cut off (undelivered attempts stay due)"
            );
            for a in aborts {
                a.abort();
            }
        }
    }
}
