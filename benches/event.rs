//! Criterion bench of `event::plan` on synthetic events: participants drawn from the profile
//! corpus of `/work/shared/bench/gen_corpus.py`, with random availability, caps and requests
//! (`benches/gen_event.py`, seeded). The data is generated on first use into
//! `$CM_BENCH_DIR` (default `/tmp/cm-events-bench`). 15,000 participants are measured with the
//! CLI instead (see README, "Events"): one run takes long enough that criterion's sampling adds
//! nothing.
//!
//! ```text
//! cargo bench --bench event
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use clustermatch::event::{input, plan, EventShape, PlanOptions};
use criterion::{criterion_group, criterion_main, Criterion};

fn data_dir() -> PathBuf {
    std::env::var_os("CM_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/cm-events-bench"))
}

/// Generates (once) the corpus and an event of `n` participants; returns its directory.
fn event(n: usize) -> Option<PathBuf> {
    let dir = data_dir();
    let corpus = dir.join("corpus20k.jsonl");
    let gen = Path::new("/work/shared/bench/gen_corpus.py");
    if !corpus.exists() {
        std::fs::create_dir_all(&dir).ok()?;
        let ok = Command::new("python3")
            .arg(gen)
            .args(["-n", "20000", "--seed", "42", "-o"])
            .arg(&corpus)
            .status()
            .ok()?
            .success();
        if !ok {
            return None;
        }
    }
    let out = dir.join(format!("ev{n}"));
    if !out.join("participants.jsonl").exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/gen_event.py");
        let ok = Command::new("python3")
            .arg(script)
            .arg("--corpus")
            .arg(&corpus)
            .args([
                "-n",
                &n.to_string(),
                "--slots",
                "24",
                "--seed",
                "7",
                "--out",
            ])
            .arg(&out)
            .status()
            .ok()?
            .success();
        if !ok {
            return None;
        }
    }
    Some(out)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("event_plan");
    group.sample_size(10);
    for n in [200usize, 2000] {
        let Some(dir) = event(n) else {
            eprintln!("skipping event_plan/{n}: cannot generate the synthetic event (python3 and /work/shared/bench/gen_corpus.py needed)");
            continue;
        };
        let Ok(mut shape) = EventShape::parse_flags(&["09:00-17:00/20m".into()], &[], Some(n / 4))
        else {
            continue;
        };
        shape.name = format!("synthetic {n}");
        let Ok(participants) =
            input::read_participants(&dir.join("participants.jsonl"), &shape, None)
        else {
            continue;
        };
        let Ok(requests) = input::read_requests(&dir.join("requests.csv"), &participants) else {
            continue;
        };
        let opts = PlanOptions::default();
        if let Ok(a) = plan(&participants, &requests, &shape, &opts) {
            let s = &a.stats;
            eprintln!(
                "event_plan/{n}: {} meetings, fill rate {:.1}%, total/bound {:.3}",
                s.meetings,
                s.fill_rate * 100.0,
                s.ratio
            );
        }
        group.bench_function(format!("{n}_participants_24_slots"), |b| {
            b.iter(|| plan(&participants, &requests, &shape, &opts))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
