//! A short, bounded soak of the server (loopback, ephemeral port): three clients mix
//! `POST /match` (by id, by profile, by text), `GET /profiles/{id}`, `PUT` and `DELETE /profiles`,
//! small `POST /batch` plans and `GET /health` for `CM_SOAK_SECS` seconds (25 by default), while
//! the server's RSS is sampled every second.
//!
//! Asserts: zero errors (every answer has the expected status, no transport error), and the RSS
//! after the warm-up grows by less than a generous bound by the end. The long version with
//! 100,000 profiles and wrk is `benches/soak.sh`.

#[path = "support/server.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{gen_profile, proc_status_kb, Server};

const PROFILES: usize = 2000;
const CLIENTS: usize = 3;
const WARM_UP: Duration = Duration::from_secs(5);
/// Largest RSS growth accepted between the end of the warm-up and the end, in kB.
const MAX_GROWTH_KB: u64 = 96 * 1024;

/// A small deterministic generator (xorshift), one per client.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[derive(Default)]
struct Tally {
    by_kind: BTreeMap<&'static str, u64>,
    errors: Vec<String>,
}

/// One client: runs until `stop`, returns what it did.
fn client(server: &Server, me: usize, stop: &AtomicBool) -> Tally {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (me as u64 + 1));
    let mut tally = Tally::default();
    let mut stored: Vec<String> = Vec::new();
    let texts = [
        "zeolite catalyst membranes for water",
        "hydrogen fuel cells for heavy transport",
        "medical imaging software and diagnostics",
        "precision agriculture drones",
    ];
    let mut step = 0usize;
    while !stop.load(Ordering::Relaxed) {
        step += 1;
        let any = || format!("gen-{:04}", rng_pick(me, step, PROFILES));
        let (kind, method, path, body): (&str, &str, String, Option<Value>) = match rng.below(20) {
            0..=3 => (
                "match_id",
                "POST",
                "/match".into(),
                Some(json!({"id": any(), "top": 10})),
            ),
            4..=5 => (
                "match_profile",
                "POST",
                "/match".into(),
                Some(json!({"profile": gen_profile(rng.below(10_000), "q"), "top": 10})),
            ),
            6..=9 => {
                let country = ["FR", "DE", "CN"][rng.below(3)];
                let text = texts[rng.below(texts.len())];
                (
                    "match_text",
                    "POST",
                    "/match".into(),
                    Some(json!({
                        "text": text,
                        "targets": ["CN"],
                        "top": 20,
                        "filters": {"countries": [country]}
                    })),
                )
            }
            10..=12 => ("get", "GET", format!("/profiles/{}", any()), None),
            13..=14 => {
                let id = format!("soak-{me}-{}", rng.below(30));
                let mut p = gen_profile(rng.below(PROFILES), &format!("s{step}"));
                p["id"] = json!(id);
                if !stored.contains(&id) {
                    stored.push(id);
                }
                ("put", "PUT", "/profiles".into(), Some(p))
            }
            15 if !stored.is_empty() => {
                let id = stored.swap_remove(rng.below(stored.len()));
                ("delete", "DELETE", format!("/profiles/{id}"), None)
            }
            16 => {
                let ids: Vec<String> = (0..6)
                    .map(|k| format!("gen-{:04}", (rng.below(PROFILES) + k) % PROFILES))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                (
                    "batch",
                    "POST",
                    "/batch".into(),
                    Some(json!({
                        "participants": ids,
                        "event": {"slots": ["09:00-10:00/20m"], "tables": 2}
                    })),
                )
            }
            _ => ("health", "GET", "/health".into(), None),
        };
        let body = body.map(|b| b.to_string());
        match server.try_call(method, &path, body.as_deref(), &[]) {
            Ok(a) if a.status == 200 => {}
            Ok(a) => tally.errors.push(format!(
                "{kind} {path}: {} {}",
                a.status,
                &a.text[..a.text.len().min(200)]
            )),
            Err(e) => tally.errors.push(format!("{kind}: transport error {e}")),
        }
        *tally.by_kind.entry(kind).or_default() += 1;
    }
    tally
}

/// A stored id for a step (spread over the corpus).
fn rng_pick(me: usize, step: usize, n: usize) -> usize {
    (me * 7919 + step * 104_729) % n
}

#[test]
fn a_short_soak_has_no_errors_and_stable_memory() {
    let secs: u64 = std::env::var("CM_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    let dir = tempfile::tempdir().expect("tmp");
    let engine = clustermatch::Engine::open_or_create(&dir.path().join("index")).expect("idx");
    let profiles: Vec<clustermatch::Profile> = (0..PROFILES)
        .map(|i| serde_json::from_value(gen_profile(i, "v0")).expect("profile"))
        .collect();
    engine.upsert(&profiles).expect("upsert");
    drop(engine);
    let server = Arc::new(Server::start(
        &dir.path().join("index"),
        &[("RUST_LOG", "warn")],
        &[],
    ));
    let pid = server.pid();
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::<(Duration, u64)>::new()));
    let start = Instant::now();
    let sampler = {
        let (stop, samples) = (stop.clone(), samples.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let rss = proc_status_kb(pid, "VmRSS");
                samples
                    .lock()
                    .expect("samples")
                    .push((start.elapsed(), rss));
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let clients: Vec<_> = (0..CLIENTS)
        .map(|me| {
            let (server, stop) = (server.clone(), stop.clone());
            std::thread::spawn(move || client(&server, me, &stop))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let mut by_kind: BTreeMap<&str, u64> = BTreeMap::new();
    let mut errors = Vec::new();
    for c in clients {
        let t = c.join().expect("client");
        for (k, n) in t.by_kind {
            *by_kind.entry(k).or_default() += n;
        }
        errors.extend(t.errors);
    }
    sampler.join().expect("sampler");
    let samples = samples.lock().expect("samples").clone();
    let rss_start = samples.first().map_or(0, |s| s.1);
    let rss_warm = samples
        .iter()
        .find(|(t, _)| *t >= WARM_UP)
        .map_or(rss_start, |s| s.1);
    let rss_end = samples.last().map_or(0, |s| s.1);
    let rss_max = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let total: u64 = by_kind.values().sum();
    let trace: Vec<String> = samples
        .iter()
        .step_by(4)
        .map(|(t, kb)| format!("{}s:{}MB", t.as_secs(), kb / 1024))
        .collect();
    eprintln!("RSS samples: {}", trace.join(" "));
    eprintln!(
        "soak {secs} s: {total} requests {by_kind:?}; errors {}; RSS kB start {rss_start}, \
         after warm-up {rss_warm}, end {rss_end}, max {rss_max}",
        errors.len()
    );
    assert!(
        errors.is_empty(),
        "{} errors: {:#?}",
        errors.len(),
        &errors[..errors.len().min(10)]
    );
    for kind in [
        "match_id",
        "match_profile",
        "match_text",
        "get",
        "put",
        "batch",
    ] {
        assert!(
            by_kind.get(kind).copied().unwrap_or(0) > 0,
            "no {kind}: {by_kind:?}"
        );
    }
    assert!(total >= 50, "only {total} requests");
    assert!(rss_warm > 0 && rss_end > 0, "RSS not sampled: {samples:?}");
    assert!(
        rss_end < rss_warm + MAX_GROWTH_KB,
        "RSS grew from {rss_warm} kB to {rss_end} kB"
    );
    let h = server.call("GET", "/health", None, &[]);
    assert_eq!(h.status, 200);
}
