//! The fuzz targets' corpora (`fuzz/corpus/<target>/`), replayed as ordinary tests on
//! stable: every input the fuzzer kept (the seeds from the fixtures, and whatever it
//! found worth keeping) goes through the same harness as in `cargo fuzz`, and must not
//! panic. The seeds hold valid bodies too, so a parser that refused everything would
//! fail here.

use std::path::PathBuf;

#[path = "../../../fuzz/fuzz_targets/harness.rs"]
mod harness;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect()
}

fn replay(target: &str, run: fn(&[u8]) -> bool) {
    let inputs = corpus(target);
    assert!(
        inputs.len() >= 4,
        "{target}: the corpus holds {} inputs",
        inputs.len()
    );
    let mut parsed = 0;
    for (path, data) in &inputs {
        let ok = std::panic::catch_unwind(|| run(data))
            .unwrap_or_else(|_| panic!("{} panicked the {target} parser", path.display()));
        parsed += usize::from(ok);
    }
    assert!(
        parsed >= 2,
        "{target}: only {parsed} of {} inputs parsed",
        inputs.len()
    );
}

#[test]
fn the_wire_corpus_replays_without_a_panic() {
    replay("wire", harness::wire);
}

#[test]
fn the_cloudevents_corpus_replays_without_a_panic() {
    replay("cloudevents", harness::cloudevents);
}

#[test]
fn the_csv_corpus_replays_without_a_panic() {
    replay("csv", harness::csv);
}

#[test]
fn the_tokens_corpus_replays_without_a_panic() {
    replay("tokens", harness::tokens);
}
