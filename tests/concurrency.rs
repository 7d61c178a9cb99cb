//! Concurrent use: a second writer fails at once with a clear message and changes nothing, and a
//! reader (the CLI `match` and `show`, in another process) during writes always sees one
//! committed state, never a mix.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use clustermatch::{Profile, ProfileIndex};
use common::{run, Workspace};

fn profile(i: usize, version: usize) -> Profile {
    Profile {
        id: format!("org{i:04}"),
        name: format!("Org {i} v{version}"),
        country: ["FR", "DE", "CN", "IT"][i % 4].into(),
        description: format!(
            "wastewater treatment membranes and water management, group {}",
            i % 7
        ),
        target_countries: vec!["CN".into(), "FR".into()],
        ..Profile::default()
    }
}

fn batch(n: usize, version: usize) -> Vec<Profile> {
    (0..n).map(|i| profile(i, version)).collect()
}

#[test]
fn a_second_writer_fails_clearly_while_the_first_holds_the_lock() {
    let ws = Workspace::empty();
    let dir = ws.path("idx");
    let idx = ProfileIndex::open_or_create(&dir).expect("index");
    idx.upsert(&batch(50, 1)).expect("base");
    let file = ws.write(
        "other.jsonl",
        "{\"id\":\"intruder\",\"name\":\"Intruder\",\"country\":\"FR\"}\n",
    );
    // The first writer streams its profiles and waits, holding the writer lock.
    let (go, wait) = mpsc::channel::<()>();
    let (held, is_held) = mpsc::channel::<()>();
    let first = std::thread::spawn(move || {
        idx.write_stream(&[], |sink| {
            for p in batch(50, 2) {
                sink.add(p)?;
            }
            held.send(()).ok();
            wait.recv().ok();
            Ok(())
        })
        .map(|s| (s, idx.len()))
    });
    is_held.recv().expect("first writer started");
    let mut c = ws.cmd();
    c.args(["index", "--input"]).arg(&file);
    let (code, _, err) = run(c);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("is locked by another writer") && err.contains("try again"),
        "{err}"
    );
    go.send(()).expect("release");
    let (summary, len) = first.join().expect("thread").expect("first writer");
    assert_eq!((summary.replaced, len), (50, 50));
    // The second writer changed nothing; the index is whole and takes writes again.
    let idx = ProfileIndex::open(&dir).expect("open");
    assert_eq!(idx.len(), 50);
    assert!(idx.get("intruder").is_err());
    assert!(idx.get("org0001").expect("get").name.ends_with("v2"));
    drop(idx);
    let mut c = ws.cmd();
    c.args(["index", "--input"]).arg(&file);
    let (code, _, err) = run(c);
    assert_eq!(code, 0, "{err}");
}

/// The version every match of a `match --format json` output carries (all must agree).
fn versions(out: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(out).expect("JSON");
    let results = v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]);
    let mut seen = Vec::new();
    for r in results {
        for m in r["matches"].as_array().expect("matches") {
            let name = m["name"].as_str().expect("name");
            seen.push(name.rsplit(' ').next().unwrap_or_default().to_string());
        }
    }
    seen
}

#[test]
fn readers_in_another_process_see_one_committed_state_during_writes() {
    let ws = Workspace::empty();
    let dir = ws.path("idx");
    let idx = ProfileIndex::open_or_create(&dir).expect("index");
    let n = 300;
    idx.upsert(&batch(n, 0)).expect("base");
    let stop = Arc::new(AtomicBool::new(false));
    let committed = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (stop, committed) = (stop.clone(), committed.clone());
        std::thread::spawn(move || {
            let mut version = 1;
            while !stop.load(Ordering::Relaxed) {
                idx.upsert(&batch(n, version)).expect("write");
                committed.store(version, Ordering::Relaxed);
                version += 1;
            }
            version - 1
        })
    };
    // Read until at least 12 reads are done and the writer has committed 3 versions meanwhile.
    let mut reads = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while reads < 12 || committed.load(Ordering::Relaxed) < 3 {
        assert!(std::time::Instant::now() < deadline, "the writer is stuck");
        let mut c = ws.cmd();
        c.args([
            "match", "--id", "org0001", "--top", "40", "--format", "json",
        ]);
        let (code, out, err) = run(c);
        assert_eq!(code, 0, "a reader failed during writes: {err}");
        let v = versions(&out);
        assert_eq!(v.len(), 40, "{out}");
        assert!(
            v.iter().all(|x| x == &v[0]),
            "one match list mixes versions: {v:?}"
        );
        let mut c = ws.cmd();
        c.args(["show", "org0002"]);
        let (code, out, err) = run(c);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("\"name\": \"Org 2 v"), "{out}");
        reads += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let versions_written = writer.join().expect("writer");
    assert!(
        versions_written >= 3,
        "the writer must have committed during the reads"
    );
    assert!(reads >= 12);
    eprintln!("{reads} reads during {versions_written} commits");
    let idx = ProfileIndex::open(&dir).expect("open");
    assert_eq!(idx.len(), n);
}
