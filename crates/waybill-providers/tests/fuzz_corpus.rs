//! The `providers` fuzz target's corpus (`fuzz/corpus/providers/`), replayed as an
//! ordinary test on stable through the target's own harness: no input may panic a
//! provider's signature check or parser, and the seeds (the providers' fixtures) hold
//! pushes that parse, so a parser that refused everything would fail here.

use std::path::PathBuf;

#[path = "../../../fuzz/fuzz_targets/providers_harness.rs"]
mod harness;

#[test]
fn the_providers_corpus_replays_without_a_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/providers");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 6, "the corpus holds {} inputs", files.len());
    let mut parsed = 0;
    for path in &files {
        let data = std::fs::read(path).unwrap();
        let ok = std::panic::catch_unwind(|| harness::providers(&data))
            .unwrap_or_else(|_| panic!("{} panicked a provider", path.display()));
        parsed += usize::from(ok);
    }
    assert!(
        parsed >= 6,
        "only {parsed} of {} inputs parsed",
        files.len()
    );
}
