//! Criterion benches of the costs that grow with the index: a single match (full score, top 20,
//! with reasons) at 10k and 100k profiles, the index build, and a batch of 1,000 participants
//! ranked top 50 each with mutual scores.
//!
//! Data comes from `../shared/bench/gen_corpus.py` (seed 42), generated once into
//! `<target>/bench-data/`; indexes are built there once and reused. Without python3 or the
//! generator the benches print why and do nothing.
//!
//! ```text
//! cargo bench --bench ranking                 # all
//! cargo bench --bench ranking -- match        # single match only
//! BENCH_SIZES=10000 cargo bench --bench ranking
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use clustermatch::{Engine, MatchOptions, Profile};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rayon::prelude::*;

/// The same allocator as the `clustermatch` binary, so that the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn data_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench-data")
}

fn generator() -> Option<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        here.join("../shared/bench/gen_corpus.py"),
        PathBuf::from("/work/shared/bench/gen_corpus.py"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// The generated corpus of `n` profiles (seed 42), or `None` with a message when it cannot be made.
fn corpus(n: usize) -> Option<PathBuf> {
    let dir = data_dir();
    let file = dir.join(format!("c{n}.s42.jsonl"));
    if file.is_file() {
        return Some(file);
    }
    let Some(script) = generator() else {
        eprintln!("skipping: gen_corpus.py not found (../shared/bench)");
        return None;
    };
    std::fs::create_dir_all(&dir).ok()?;
    let status = Command::new("python3")
        .arg(&script)
        .args(["-n", &n.to_string(), "--seed", "42", "-o"])
        .arg(&file)
        .status();
    match status {
        Ok(s) if s.success() => Some(file),
        Ok(s) => {
            eprintln!("skipping: gen_corpus.py failed ({s})");
            None
        }
        Err(e) => {
            eprintln!("skipping: python3 is needed to generate bench data ({e})");
            None
        }
    }
}

fn profiles(n: usize) -> Option<Vec<Profile>> {
    let file = corpus(n)?;
    match clustermatch::input::read_profiles(&file) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("skipping: {e}");
            None
        }
    }
}

/// An engine over an on-disk index of the corpus of `n` profiles, built once.
fn engine(n: usize) -> Option<(Engine, Vec<String>)> {
    let file = corpus(n)?;
    let dir = data_dir().join(format!("idx{n}"));
    let engine = if clustermatch::ProfileIndex::exists(&dir) {
        Engine::open(&dir).ok()?
    } else {
        let all = profiles(n)?;
        let e = Engine::open_or_create(&dir).ok()?;
        e.upsert(&all).ok()?;
        e
    };
    if engine.index().len() != n {
        eprintln!(
            "skipping: {} holds a different corpus; remove it",
            dir.display()
        );
        return None;
    }
    // The query organisations: the first profiles of the corpus, as peers.py takes them.
    let text = std::fs::read_to_string(file).ok()?;
    let ids = text
        .lines()
        .take(1000)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["id"].as_str().map(String::from))
        .collect();
    Some((engine, ids))
}

fn sizes() -> Vec<usize> {
    // Every bench asks for its sizes first: the binary's allocator settings before any work.
    clustermatch::alloc::keep_freed_memory();
    std::env::var("BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000])
}

fn single_match(c: &mut Criterion) {
    let mut g = c.benchmark_group("match_top20_reasons");
    for n in sizes() {
        let Some((engine, ids)) = engine(n) else {
            continue;
        };
        let opts = MatchOptions {
            top: 20,
            ..MatchOptions::default()
        };
        let mut i = 0;
        g.bench_function(format!("{n}"), |b| {
            b.iter(|| {
                i = (i + 1) % ids.len();
                engine.match_id(&ids[i], &opts)
            })
        });
    }
    g.finish();
}

/// Ranks participants top 50 in parallel and scores each listed pair of participants both ways.
fn batch_with_mutual(engine: &Engine, ids: &[String]) -> usize {
    let opts = MatchOptions {
        top: 50,
        reasons: false,
        ..MatchOptions::default()
    };
    let results: Vec<_> = ids
        .par_iter()
        .filter_map(|id| engine.match_id(id, &opts).ok())
        .collect();
    let mut directed: HashMap<(&str, &str), f32> = HashMap::new();
    for (a, r) in ids.iter().zip(&results) {
        for m in &r.matches {
            directed.insert((a.as_str(), m.id.as_str()), m.score);
        }
    }
    directed
        .iter()
        .map(|(&(a, b), &s)| {
            clustermatch::score::mutual(s, directed.get(&(b, a)).copied().unwrap_or(0.0))
        })
        .filter(|m| *m > 0.0)
        .count()
}

fn batch(c: &mut Criterion) {
    let mut g = c.benchmark_group("batch_1000_top50_mutual");
    g.sample_size(10);
    let Ok(pool) = rayon::ThreadPoolBuilder::new().num_threads(2).build() else {
        return;
    };
    for n in sizes() {
        let Some((engine, ids)) = engine(n) else {
            continue;
        };
        g.bench_function(format!("{n}"), |b| {
            b.iter(|| pool.install(|| batch_with_mutual(&engine, &ids)))
        });
    }
    g.finish();
}

fn build(c: &mut Criterion) {
    let mut g = c.benchmark_group("index_build");
    g.sample_size(10);
    let n = 10_000;
    let Some(all) = profiles(n) else {
        return;
    };
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function(format!("{n}"), |b| {
        b.iter_batched(
            || tempfile::tempdir().ok(),
            |dir| {
                let dir = dir?;
                let e = Engine::open_or_create(dir.path()).ok()?;
                e.upsert(&all).ok()
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, single_match, batch, build);
criterion_main!(benches);
