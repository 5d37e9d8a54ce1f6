//! The single writer and its group commit.
//!
//! Requests queue on a bounded channel. The writer takes the first, then everything else
//! already waiting (up to `max_batch_events`), applies it all in one transaction and
//! commits once. Under load, many HTTP requests share one commit; alone, a request pays
//! for one commit and no waiting.
//!
//! Durability is pipelined. The commit itself only writes the WAL (SQLite's
//! `synchronous=NORMAL`); the answers then go to the syncer thread, which fsyncs the WAL
//! file and only then answers. While one fsync is in flight the writer applies and
//! commits the next batch, and every batch committed meanwhile is made durable by the
//! next fsync: one fsync can acknowledge several transactions. An answer still never
//! leaves before the bytes of its transaction are on disk. (Readers may see a committed
//! batch a few milliseconds before it is acknowledged.)

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{oneshot, watch};

use super::log;
use crate::ErrorClass;
use crate::model::submission::{ItemOutcome, Submission, Work};
use crate::sqlite::apply::Appends;
use crate::sqlite::apply::Applier;
use crate::sqlite::apply::Intake;
use crate::sqlite::apply::Sink;
use crate::sqlite::hooks;
use crate::sqlite::outbox;
use crate::sqlite::overlay::Overlay;
use crate::sqlite::overlay::PendingOrder;
use crate::sqlite::quarantine;
use crate::sqlite::rows::SqliteRows;
use crate::sqlite::rows::set_projected_through;
use crate::{StoreError, Synchronous};

#[derive(Debug, Clone)]
pub struct WriterOptions {
    pub synchronous: Synchronous,
    /// Most events in one transaction.
    pub max_batch_events: usize,
    /// Requests that may wait for the writer before callers are told to back off.
    pub queue_depth: usize,
    /// Events that may wait for the writer, all requests together: the memory bound of
    /// the queue. Past it, callers are told to back off (a request alone on an empty
    /// queue always gets in, whatever its size).
    pub max_queued_events: usize,
    /// Orders and shipments the writer keeps in memory.
    pub cache_capacity: usize,
    /// The writer connection's SQLite page cache, in MiB (readers have a small one of
    /// their own: `schema::READER_CACHE_MIB`).
    pub page_cache_mib: usize,
    /// How long projection rows may lag the log (readers see the overlay meanwhile).
    /// Zero writes them at every commit.
    pub flush_interval: Duration,
    /// Publish touched orders to the overlay after each commit. Turn off only for a
    /// store that nobody reads while it writes (a bulk `ingest`): its reads would lag
    /// the writes by up to `flush_interval`.
    pub overlay: bool,
    /// Write domain events to the outbox (webhooks, streams, e-mail read them there).
    /// Off only for a bulk load of history, which should notify nobody.
    pub announce: bool,
    /// How often a background thread copies the WAL back into the database. The writer
    /// itself never checkpoints, so commits do not stall behind that I/O, and a page
    /// rewritten many times between two checkpoints is copied once.
    pub checkpoint_interval: Duration,
}

impl WriterOptions {
    /// For a bulk load: larger transactions than the server's, and no overlay (nobody
    /// reads the store while it loads: the directory is locked), so projection rows are
    /// written only every few seconds or when a quarter of the cache waits. Each
    /// acknowledged batch is still durable, and the rows are current when the load
    /// ends.
    pub fn for_bulk_load(self) -> Self {
        Self {
            max_batch_events: 100_000,
            cache_capacity: self.cache_capacity.max(1_000_000),
            flush_interval: Duration::from_secs(5),
            overlay: false,
            // Loading history notifies nobody: no domain events, no webhooks.
            announce: false,
            ..self
        }
    }
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Full,
            max_batch_events: 20_000,
            queue_depth: 1024,
            max_queued_events: 200_000,
            cache_capacity: 200_000,
            page_cache_mib: 256,
            flush_interval: Duration::from_millis(1000),
            overlay: true,
            announce: true,
            checkpoint_interval: Duration::from_millis(1000),
        }
    }
}

type Reply = oneshot::Sender<Result<Vec<ItemOutcome>, StoreError>>;

/// The answer to a queued submission, once it is durable.
pub type Pending = oneshot::Receiver<Result<Vec<ItemOutcome>, StoreError>>;

struct Job {
    submission: Submission,
    reply: Reply,
}

/// The way to the writer thread. Dropping it closes the queue and waits for the thread
/// to finish what it holds, so that the directory is free when the drop returns.
pub struct WriterHandle {
    tx: Option<SyncSender<Job>>,
    /// Events submitted and not yet taken by the writer.
    queued: Arc<AtomicUsize>,
    max_queued: usize,
    alive: Arc<AtomicBool>,
    /// Set by the syncer when an fsync failed: the store is done.
    broken: Arc<AtomicBool>,
    /// Set by the writer while the disk is full: writes are refused until there is
    /// space again (the writer tries at each submission).
    full: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl WriterHandle {
    pub fn submit(&self, submission: Submission) -> Result<Pending, StoreError> {
        let (reply, rx) = oneshot::channel();
        let Some(tx) = &self.tx else {
            return Err(StoreError::WriterGone);
        };
        let n = submission.len();
        let before = self.queued.fetch_add(n, Ordering::SeqCst);
        let refuse = |e: StoreError| {
            self.queued.fetch_sub(n, Ordering::SeqCst);
            Err(e)
        };
        if before > 0 && before + n > self.max_queued {
            return refuse(StoreError::Busy);
        }
        match tx.try_send(Job { submission, reply }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => refuse(StoreError::Busy),
            Err(TrySendError::Disconnected(_)) => refuse(StoreError::WriterGone),
        }
    }

    /// Events submitted and not yet taken into a transaction.
    pub fn queued_events(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Taking writes: running, durable, and with room on the disk.
    pub fn alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
            && !self.broken.load(Ordering::Relaxed)
            && !self.full.load(Ordering::Relaxed)
    }
}

pub fn spawn(
    conn: Connection,
    checkpointer: Connection,
    wal: PathBuf,
    lock: File,
    overlay: Arc<Overlay>,
    announced: Arc<watch::Sender<i64>>,
    options: WriterOptions,
) -> Result<WriterHandle, StoreError> {
    let (tx, rx) = sync_channel(options.queue_depth);
    let queued = Arc::new(AtomicUsize::new(0));
    let writer_queued = queued.clone();
    let max_queued = options.max_queued_events;
    let alive = Arc::new(AtomicBool::new(true));
    let flag = alive.clone();
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    let (stop_checkpoints, stopped) = sync_channel::<()>(0);
    let interval = options.checkpoint_interval;
    std::thread::Builder::new()
        .name("waybill-checkpoint".into())
        .spawn(move || checkpoint_loop(&checkpointer, &stopped, interval))?;
    let broken = Arc::new(AtomicBool::new(false));
    let syncer = match options.synchronous {
        Synchronous::Full => {
            let (to_sync, synced) = std::sync::mpsc::channel::<Synced>();
            let broken = broken.clone();
            let announced = announced.clone();
            std::thread::Builder::new()
                .name("waybill-syncer".into())
                .spawn(move || {
                    let mut file: Option<File> = None;
                    let fsync = move || -> std::io::Result<()> {
                        if file.is_none() {
                            file = Some(File::open(&wal)?);
                        }
                        file.as_ref().map_or(Ok(()), File::sync_data)
                    };
                    sync_loop(&synced, &broken, &announced, fsync);
                })?;
            Some(to_sync)
        }
        Synchronous::Normal => None,
    };
    let writer_broken = broken.clone();
    let full = Arc::new(AtomicBool::new(false));
    let writer_full = full.clone();
    let thread = std::thread::Builder::new()
        .name("waybill-writer".into())
        .spawn(move || {
            // Whether `run` returns or panics, the store stops saying it is alive, and
            // the directory lock and the checkpointer go with it.
            let _alive = ClearOnDrop(flag);
            let _lock = lock;
            let _stop = stop_checkpoints;
            run(
                conn,
                &overlay,
                &announced,
                rx,
                &writer_queued,
                &options,
                syncer.as_ref(),
                &writer_broken,
                &writer_full,
            );
        })?;
    Ok(WriterHandle {
        tx: Some(tx),
        queued,
        max_queued,
        alive,
        broken,
        full,
        thread: Some(thread),
    })
}

/// Copies committed WAL frames into the database file, off the writer's thread. PASSIVE
/// never blocks the writer or readers; when every frame has been copied, the writer's
/// next transaction starts the WAL over from the beginning.
fn checkpoint_loop(conn: &Connection, stop: &Receiver<()>, interval: Duration) {
    use std::sync::mpsc::RecvTimeoutError;
    loop {
        match stop.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            // The writer is gone: one last checkpoint, then stop.
            _ => {
                let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
                return;
            }
        }
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "checkpoint failed; will retry");
        }
    }
}

type Answer = (Reply, Result<Vec<ItemOutcome>, StoreError>);

/// A committed batch for the syncer: its answers, and the last outbox id it wrote.
type Synced = (Vec<Answer>, Option<i64>);

/// Tells the outbox's readers (streams, deliveries) how far it is durable.
fn announce(announced: &watch::Sender<i64>, through: Option<i64>) {
    if let Some(id) = through {
        announced.send_if_modified(|cur| {
            let moved = id > *cur;
            *cur = (*cur).max(id);
            moved
        });
    }
}

struct ClearOnDrop(Arc<AtomicBool>);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// Makes committed batches durable, then answers them. Everything queued while an fsync
/// runs is covered by the next one.
///
/// A failed fsync is final: after it, Linux may have dropped the dirty pages, so what
/// later fsyncs "succeed" on is not known to be on disk. The store stops (`broken`), and
/// every caller from then on is refused until the process restarts and SQLite recovers
/// the WAL.
fn sync_loop(
    queue: &Receiver<Synced>,
    broken: &AtomicBool,
    announced: &watch::Sender<i64>,
    mut fsync: impl FnMut() -> std::io::Result<()>,
) {
    while let Ok((mut answers, mut through)) = queue.recv() {
        while let Ok((more, later)) = queue.try_recv() {
            answers.extend(more);
            through = later.or(through);
        }
        let synced = fsync();
        match &synced {
            Err(e) => {
                tracing::error!(error = %e, "fsync of the WAL failed: the store stops");
                broken.store(true, Ordering::SeqCst);
            }
            // Only what is on disk is announced.
            Ok(()) => announce(announced, through),
        }
        for (reply, out) in answers {
            let out = match &synced {
                Ok(()) => out,
                Err(e) => Err(StoreError::NotDurable(e.to_string())),
            };
            let _ = reply.send(out);
        }
    }
}

#[allow(clippy::too_many_arguments)] // the writer thread's whole world, passed once
fn run(
    mut conn: Connection,
    overlay: &Overlay,
    announced: &watch::Sender<i64>,
    rx: Receiver<Job>,
    queued: &AtomicUsize,
    options: &WriterOptions,
    syncer: Option<&Sender<Synced>>,
    broken: &AtomicBool,
    full: &AtomicBool,
) {
    let mut applier = Applier::new(options.cache_capacity);
    applier.set_announce(options.announce);
    // The loop ends when every handle is dropped: the store is closed.
    loop {
        // When writes stop, the rows catch up after `flush_interval`, so that readers
        // of the rows alone (the dashboard, `waybill order`) lag by at most that.
        let first = match rx.recv_timeout(options.flush_interval.max(Duration::from_millis(10))) {
            Ok(job) => job,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if applier.has_dirty() && !broken.load(Ordering::SeqCst) {
                    match flush_idle(&mut conn, &mut applier) {
                        Ok(()) => overlay.clear(),
                        Err(e) => {
                            tracing::warn!(error = %e, "idle flush failed; the next batch retries")
                        }
                    }
                }
                continue;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        };
        if broken.load(Ordering::SeqCst) {
            let _ = first.reply.send(Err(StoreError::NotDurable(
                "the store stopped after a failed fsync".into(),
            )));
            return;
        }
        let mut jobs = vec![first];
        let mut events = jobs[0].submission.len();
        while events < options.max_batch_events {
            match rx.try_recv() {
                Ok(job) => {
                    events += job.submission.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        queued.fetch_sub(events, Ordering::SeqCst);
        // A full disk refused the last catch-up: try again; while it still refuses,
        // so does every submission (nothing of theirs is written).
        if full.load(Ordering::SeqCst) {
            match catch_up(&mut conn, &mut applier) {
                // Caught up: this batch may fit now; its commit says.
                Ok(_) => overlay.clear(),
                Err(e) if e.class() == ErrorClass::Full => {
                    // The failed catch-up left the memory ahead of the rows: forget it,
                    // or the next one would take its events for done.
                    applier.reset();
                    let reason = e.to_string();
                    for job in jobs {
                        let _ = job.reply.send(Err(StoreError::RolledBack {
                            class: ErrorClass::Full,
                            reason: reason.clone(),
                        }));
                    }
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "projections cannot catch up: the store stops");
                    broken.store(true, Ordering::SeqCst);
                    return;
                }
            }
        }
        let started = Instant::now();
        match commit_batch(&mut conn, &mut applier, &jobs, options) {
            Ok(Committed {
                outcomes,
                projection,
                through,
            }) => {
                if full.swap(false, Ordering::SeqCst) {
                    tracing::info!("there is space on the disk again: writes resume");
                }
                // Before anyone is answered, readers must see what the batch did.
                let flushed = match projection {
                    Projection::Flushed => {
                        overlay.clear();
                        true
                    }
                    Projection::Pending(views) => {
                        overlay.publish(views);
                        false
                    }
                };
                applier.committed(flushed);
                tracing::trace!(events, jobs = jobs.len(), elapsed = ?started.elapsed(), "committed");
                let answers: Vec<Answer> = jobs
                    .into_iter()
                    .zip(outcomes)
                    .map(|(job, out)| (job.reply, Ok(out)))
                    .collect();
                match syncer {
                    Some(s) => {
                        if let Err(unsent) = s.send((answers, through)) {
                            for (reply, _) in unsent.0.0 {
                                let _ = reply.send(Err(StoreError::WriterGone));
                            }
                        }
                    }
                    None => {
                        announce(announced, through);
                        for (reply, out) in answers {
                            let _ = reply.send(out);
                        }
                    }
                }
            }
            Err(e) => {
                // Nothing of this batch is durable, and the cache may be ahead of the
                // database: forget it, tell every caller, and bring the rows up to the
                // log before taking anything else (a cold cache reads the rows).
                applier.reset();
                tracing::error!(error = %e, events, "batch rolled back");
                let (class, reason) = (e.class(), e.to_string());
                if class == ErrorClass::Full {
                    full.store(true, Ordering::SeqCst);
                }
                for job in jobs {
                    let _ = job.reply.send(Err(StoreError::RolledBack {
                        class,
                        reason: reason.clone(),
                    }));
                }
                match catch_up(&mut conn, &mut applier) {
                    Ok(_) => overlay.clear(),
                    // Not broken: the log holds everything acknowledged, and the rows
                    // catch up once there is room to write them.
                    Err(e) if e.class() == ErrorClass::Full => {
                        tracing::error!(error = %e, "the disk is full: writes are refused until there is space");
                        applier.reset();
                        full.store(true, Ordering::SeqCst);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "projections cannot catch up: the store stops");
                        broken.store(true, Ordering::SeqCst);
                        return;
                    }
                }
            }
        }
    }
    // Closing: write what is still waiting, so the rows are current at rest. The
    // memory is sound here (a failed batch was caught up at once), so this is a flush,
    // not a catch-up that would read back every event since the last one.
    if let Err(e) = flush_idle(&mut conn, &mut applier) {
        tracing::error!(error = %e, "final projection flush failed; the next start catches up");
    }
}

/// Writes the waiting projection rows in a transaction of their own.
fn flush_idle(conn: &mut Connection, applier: &mut Applier) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    flush(&tx, applier)?;
    applier.forget_touched();
    tx.commit()?;
    applier.committed(true);
    Ok(())
}

/// Writes the waiting projection rows and records how far they hold the log.
fn flush(tx: &Connection, applier: &mut Applier) -> Result<(), StoreError> {
    applier.flush(&mut SqliteRows(tx))?;
    if let Some(seq) = applier.logged_through() {
        set_projected_through(tx, seq)?;
    }
    Ok(())
}

/// What a committed batch leaves: its answers, the overlay's part, and the last outbox
/// id it wrote.
struct Committed {
    outcomes: Vec<Vec<ItemOutcome>>,
    projection: Projection,
    through: Option<i64>,
}

/// What a committed batch leaves for the overlay.
enum Projection {
    /// The rows were written: the overlay can be emptied.
    Flushed,
    /// The rows wait: these orders' current state goes to the overlay.
    Pending(Vec<PendingOrder>),
}

fn commit_batch(
    conn: &mut Connection,
    applier: &mut Applier,
    jobs: &[Job],
    options: &WriterOptions,
) -> Result<Committed, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut all = Vec::with_capacity(jobs.len());
    let mut log = Appends::default();
    for job in jobs {
        let out = match job.submission.work() {
            Work::Apply(events, intake) => {
                applier.apply_all(&mut SqliteRows(&tx), events, intake, &mut log)?
            }
            Work::Keep(q) => vec![ItemOutcome::Quarantined(quarantine::insert(&tx, q)?)],
            Work::Hook(op) => vec![if hooks::apply(&tx, op)? {
                ItemOutcome::Done
            } else {
                ItemOutcome::Missing
            }],
            Work::SignOut(s) => {
                crate::sqlite::sign_outs::record(&tx, s)?;
                vec![ItemOutcome::Done]
            }
        };
        if let Some((id, at)) = job.submission.resolved(&out) {
            quarantine::mark_replayed(&tx, id, at)?;
        }
        all.push(out);
    }
    let t_apply = Instant::now();
    log::append(&tx, &log.all())?;
    let through = outbox::append(&tx, &applier.take_changes())?;
    let t_append = Instant::now();
    let projection = if applier.flush_due(options.flush_interval) {
        flush(&tx, applier)?;
        applier.forget_touched();
        Projection::Flushed
    } else if options.overlay {
        Projection::Pending(applier.views(&mut SqliteRows(&tx))?)
    } else {
        applier.forget_touched();
        Projection::Pending(Vec::new())
    };
    let t_flush = Instant::now();
    tx.commit()?;
    tracing::trace!(
        append = ?(t_append - t_apply),
        project = ?(t_flush - t_append),
        commit = ?t_flush.elapsed(),
        "batch phases"
    );
    Ok(Committed {
        outcomes: all,
        projection,
        through,
    })
}

/// Brings the projection rows up to the log: applies every event past the watermark
/// (as a duplicate if the rows already had it) and writes the rows. Run at open, and
/// after a failed batch has cleared the writer's memory.
pub fn catch_up(conn: &mut Connection, applier: &mut Applier) -> Result<u64, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let from: i64 = tx.query_row(
        "SELECT value FROM meta WHERE key = 'projected_through'",
        [],
        |r| r.get(0),
    )?;
    let mut n = 0;
    {
        let mut stmt = tx.prepare("SELECT * FROM events WHERE seq > ?1 ORDER BY seq")?;
        let mut rows = stmt.query([from])?;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get("seq")?;
            let Some(ev) = log::event_from_row(row)? else {
                return Err(StoreError::Unreadable(format!(
                    "event seq {seq} is unreadable"
                )));
            };
            applier.apply(
                &mut SqliteRows(&tx),
                &ev,
                Intake::Provider,
                Sink::Logged { seq },
            )?;
            n += 1;
        }
    }
    applier.note_logged_through(&mut SqliteRows(&tx))?;
    flush(&tx, applier)?;
    applier.forget_touched();
    tx.commit()?;
    applier.committed(true);
    Ok(n)
}

/// Drops the projections and re-applies the whole log in the order it was accepted.
/// Returns the number of events replayed.
pub fn replay(conn: &mut Connection) -> Result<u64, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch("DELETE FROM orders; DELETE FROM shipments; DELETE FROM carrier_aliases;")?;
    let mut applier = Applier::new(usize::MAX / 4);
    let mut sink = SqliteRows(&tx);
    let mut n = 0u64;
    {
        let mut stmt = tx.prepare("SELECT * FROM events ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get("seq")?;
            let Some(ev) = log::event_from_row(row)? else {
                return Err(StoreError::Unreadable(format!(
                    "event seq {seq} is unreadable"
                )));
            };
            match applier
                .apply(&mut sink, &ev, Intake::Provider, Sink::Logged { seq })?
                .outcome
            {
                ItemOutcome::Accepted => n += 1,
                other => {
                    return Err(StoreError::Diverged {
                        seq,
                        outcome: format!("{other:?}"),
                    });
                }
            }
        }
    }
    applier.note_logged_through(&mut sink)?;
    flush(&tx, &mut applier)?;
    tx.commit()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers leave the syncer only after the fsync that covers them has returned.
    #[test]
    fn nobody_is_answered_before_the_fsync_returns() {
        let (to_sync, queue) = std::sync::mpsc::channel::<Synced>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (entered, in_fsync) = std::sync::mpsc::channel::<()>();
        let broken = Arc::new(AtomicBool::new(false));
        let flag = broken.clone();
        let announced = Arc::new(watch::Sender::new(0i64));
        let seen = announced.subscribe();
        let syncer = std::thread::spawn(move || {
            sync_loop(&queue, &flag, &announced, move || {
                entered.send(()).unwrap();
                released.recv().unwrap();
                Ok(())
            });
        });
        let (reply, mut answer) = oneshot::channel();
        to_sync
            .send((vec![(reply, Ok(vec![ItemOutcome::Accepted]))], Some(7)))
            .unwrap();
        in_fsync.recv().unwrap();
        assert!(
            answer.try_recv().is_err(),
            "answered while the fsync was running"
        );
        assert_eq!(*seen.borrow(), 0, "announced before it was on disk");
        release.send(()).unwrap();
        assert_eq!(
            answer.blocking_recv().unwrap().unwrap(),
            [ItemOutcome::Accepted]
        );
        assert_eq!(*seen.borrow(), 7);
        drop(to_sync);
        syncer.join().unwrap();
        assert!(!broken.load(Ordering::SeqCst));
    }

    /// A failed fsync answers with an error and stops the store.
    #[test]
    fn a_failed_fsync_is_an_error_and_final() {
        let (to_sync, queue) = std::sync::mpsc::channel::<Synced>();
        let broken = AtomicBool::new(false);
        let (reply, answer) = oneshot::channel();
        to_sync
            .send((vec![(reply, Ok(vec![ItemOutcome::Accepted]))], Some(3)))
            .unwrap();
        drop(to_sync);
        let announced = watch::Sender::new(0i64);
        sync_loop(&queue, &broken, &announced, || {
            Err(std::io::Error::other("disk gone"))
        });
        assert_eq!(*announced.borrow(), 0, "nothing lost may be announced");
        assert!(matches!(
            answer.blocking_recv().unwrap(),
            Err(StoreError::NotDurable(m)) if m.contains("disk gone")
        ));
        assert!(broken.load(Ordering::SeqCst));
    }
}
