//! The server sees commits made by another process: `clustermatch index` run (as by cron) on the
//! directory a running `clustermatch serve` serves.
//!
//! Behaviours checked:
//! 1. after each CLI run, the server answers with the new profiles within its refresh interval,
//!    and readers polling all along never see a half-applied run (every generated match of one
//!    answer carries the same version, and `/health` only ever reports a committed total);
//! 2. a server write right after an outside commit (before any refresh) builds on that commit:
//!    ids the CLI added are replaced, not duplicated, and ids it added can be deleted;
//! 3. with `--refresh-ms 0` the server keeps its snapshot until its own next write.

#[path = "support/server.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{gen_profile, Server, BIN};

/// An index of the shipped fixtures in `dir/index`; returns its size.
fn fixture_index(dir: &Path) -> usize {
    let engine = clustermatch::Engine::open_or_create(&dir.join("index")).expect("index");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/profiles.jsonl");
    let profiles = clustermatch::input::read_profiles(&fixtures).expect("fixtures");
    engine.upsert(&profiles).expect("upsert");
    engine.index().len()
}

/// Runs `clustermatch index` on `index` with `n` generated profiles of `version`.
fn cli_index(dir: &Path, n: usize, version: &str) {
    let file = dir.join(format!("{version}.jsonl"));
    let lines: Vec<String> = (0..n)
        .map(|i| gen_profile(i, version).to_string())
        .collect();
    std::fs::write(&file, lines.join("\n")).expect("write");
    let out = Command::new(BIN)
        .args(["--no-config", "--index"])
        .arg(dir.join("index"))
        .args(["index", "--input"])
        .arg(&file)
        .env_remove("CLUSTERMATCH_INDEX")
        .env_remove("CLUSTERMATCH_CONFIG")
        .output()
        .expect("run index");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The versions of the generated profiles in a match answer.
fn versions(answer: &Value) -> BTreeSet<String> {
    answer["matches"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .filter(|name| name.starts_with("Generated "))
        .filter_map(|name| name.rsplit(' ').next().map(str::to_string))
        .collect()
}

#[test]
fn the_server_serves_what_the_cli_indexes_and_readers_never_see_half_a_run() {
    let dir = tempfile::tempdir().expect("tmp");
    let base = fixture_index(dir.path());
    let server = Arc::new(Server::start(
        &dir.path().join("index"),
        &[("RUST_LOG", "info")],
        &["--refresh-ms", "100"],
    ));
    let n = 400;
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (server, stop) = (server.clone(), stop.clone());
            std::thread::spawn(move || {
                let (mut seen, mut totals, mut answered) = (BTreeSet::new(), BTreeSet::new(), 0);
                while !stop.load(Ordering::Relaxed) {
                    let body = json!({"text": "zeolite catalyst membranes", "top": 50});
                    let a = server.call("POST", "/match", Some(&body.to_string()), &[]);
                    assert_eq!(a.status, 200, "{}", a.text);
                    let v = versions(&a.json());
                    assert!(v.len() <= 1, "torn answer: {v:?}");
                    seen.extend(v);
                    let h = server.call("GET", "/health", None, &[]).json();
                    totals.insert(h["profiles"].as_u64().expect("profiles"));
                    answered += 1;
                }
                (seen, totals, answered)
            })
        })
        .collect();

    for (round, version) in ["v1", "v2", "v3"].iter().enumerate() {
        cli_index(dir.path(), n, version);
        let started = Instant::now();
        loop {
            let a = server.call("GET", "/profiles/gen-0007", None, &[]);
            if a.status == 200 && a.json()["name"] == format!("Generated 7 {version}") {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "round {round}: the server still answers {} {}",
                a.status,
                a.text
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let h = server.call("GET", "/health", None, &[]).json();
        assert_eq!(h["profiles"], json!(base + n));
        let a = server.call(
            "POST",
            "/match",
            Some(&json!({"text": "zeolite catalyst membranes", "top": 50}).to_string()),
            &[],
        );
        assert_eq!(versions(&a.json()), BTreeSet::from([version.to_string()]));
    }
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let mut totals = BTreeSet::new();
    let mut answered = 0;
    for r in readers {
        let (_, t, a) = r.join().expect("reader");
        totals.extend(t);
        answered += a;
    }
    assert!(answered > 10, "only {answered} reads");
    // Only committed totals: before the first run, or after one.
    let allowed = BTreeSet::from([base as u64, (base + n) as u64]);
    assert!(totals.is_subset(&allowed), "{totals:?}");
    let log = server.log_text();
    assert!(log.contains("the index changed on disk"), "{log}");
}

#[test]
fn a_server_write_after_an_outside_commit_builds_on_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let base = fixture_index(dir.path());
    // Never refreshes by itself: only its own writes catch up.
    let server = Server::start(
        &dir.path().join("index"),
        &[("RUST_LOG", "info")],
        &["--refresh-ms", "0"],
    );
    cli_index(dir.path(), 50, "v1");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        server.call("GET", "/profiles/gen-0001", None, &[]).status,
        404,
        "--refresh-ms 0 keeps the snapshot"
    );
    let a = server.call(
        "PUT",
        "/profiles",
        Some(&gen_profile(1, "v2").to_string()),
        &[],
    );
    assert_eq!(a.status, 200, "{}", a.text);
    let summary = a.json();
    assert_eq!(
        (&summary["added"], &summary["replaced"], &summary["total"]),
        (&json!(0), &json!(1), &json!(base + 50)),
        "the CLI's gen-0001 was replaced, not duplicated: {summary}"
    );
    let a = server.call("DELETE", "/profiles/gen-0002", None, &[]);
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json()["total"], json!(base + 49));
    let a = server.call("GET", "/profiles/gen-0001", None, &[]);
    assert_eq!(a.json()["name"], "Generated 1 v2");
    drop(server);
    // On disk: one gen-0001, no gen-0002.
    let engine = clustermatch::Engine::open(&dir.path().join("index")).expect("open");
    assert_eq!(engine.index().len(), base + 49);
    assert_eq!(
        engine.index().snapshot().searcher.num_docs() as usize,
        base + 49,
        "no duplicate document"
    );
    assert!(engine.get("gen-0002").is_err());
}
