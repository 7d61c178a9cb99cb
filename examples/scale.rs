//! Measures an index the way `benches/scale.sh` reports it: single-match latency (p50/p99, one
//! thread, top 20 with reasons, self excluded) over the first profiles of a corpus — the same
//! query organisations `peers.py` uses — and the time of a batch of participants ranked top 50
//! each with mutual scores, on a rayon pool.
//!
//! ```text
//! cargo run --release --example scale -- --index DIR --corpus FILE.jsonl [--queries 1000]
//!     [--batch 1000] [--threads 2] [--strategy auto|exhaustive]
//!     [--check N]   (first compare pruned and exhaustive rankings of N queries)
//!     [--warm]      (run the queries once before timing them: a long-running server's steady
//!                    state, every posting list the queries need already decoded)
//!     [--preload N] (warm the snapshot first, as `serve` does: the longest posting lists,
//!                    within N postings; timed apart as `preload_s`)
//!     [--writes N]  (last, upsert N stored profiles one at a time, each write committed and
//!                    its snapshot published as `PUT /profiles` does: `write_p50_ms`,
//!                    `write_max_ms`; the index keeps the same profiles. Each new snapshot is
//!                    warmed in the background as `serve` warms it, with the `--preload`
//!                    budget, and the five queries sent right after each write are timed:
//!                    `after_write_p50_ms`, `after_write_p99_ms`)
//! ```
//!
//! Prints one JSON line: `{"p50_ms", "p99_ms", "mean_ms", "batch_s", "open_s", ...}`.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clustermatch::rank::{self, ResolvedQuery, Strategy};
use clustermatch::{Engine, MatchOptions, MatchResult};
use rayon::prelude::*;

/// The same allocator as the `clustermatch` binary, so that the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    index: PathBuf,
    corpus: PathBuf,
    queries: usize,
    batch: usize,
    threads: usize,
    strategy: Strategy,
    check: usize,
    warm: bool,
    preload: usize,
    writes: usize,
}

fn args() -> Result<Args> {
    let mut a = Args {
        index: PathBuf::new(),
        corpus: PathBuf::new(),
        queries: 1000,
        batch: 1000,
        threads: 2,
        strategy: Strategy::Auto,
        check: 0,
        warm: false,
        preload: 0,
        writes: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--index" => a.index = value()?.into(),
            "--corpus" => a.corpus = value()?.into(),
            "--queries" => a.queries = value()?.parse()?,
            "--batch" => a.batch = value()?.parse()?,
            "--threads" => a.threads = value()?.parse()?,
            "--check" => a.check = value()?.parse()?,
            "--warm" => a.warm = true,
            "--preload" => a.preload = value()?.parse()?,
            "--writes" => a.writes = value()?.parse()?,
            "--strategy" => {
                a.strategy = match value()?.as_str() {
                    "auto" => Strategy::Auto,
                    "exhaustive" => Strategy::Exhaustive,
                    s => bail!("--strategy: auto or exhaustive, not {s}"),
                }
            }
            // `cargo bench` passes this to every bench target; ignore it.
            "--bench" => {}
            other => bail!("unknown argument {other}"),
        }
    }
    if a.index.as_os_str().is_empty() || a.corpus.as_os_str().is_empty() {
        bail!(
            "usage: scale --index DIR --corpus FILE.jsonl [--queries N] [--batch N] [--threads N]"
        );
    }
    Ok(a)
}

/// Ids of the first `n` profiles of a JSONL corpus.
fn first_ids(path: &PathBuf, n: usize) -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    let f = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut ids = Vec::with_capacity(n);
    for line in std::io::BufReader::new(f).lines().take(n) {
        let id: Id = serde_json::from_str(&line?)?;
        ids.push(id.id);
    }
    Ok(ids)
}

/// The same percentile as peers.py: nearest rank on the sorted sample.
fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> Result<()> {
    clustermatch::alloc::keep_freed_memory();
    let a = args()?;
    let ids = first_ids(&a.corpus, a.queries.max(a.batch).max(a.check))?;
    let t0 = Instant::now();
    let engine = Engine::open(&a.index)?;
    let open_s = t0.elapsed().as_secs_f64();
    let t = Instant::now();
    let preloaded = match a.preload {
        0 => Default::default(),
        budget => engine.index().warm(budget)?,
    };
    let preload_s = t.elapsed().as_secs_f64();

    let single = MatchOptions {
        top: 20,
        ..MatchOptions::default()
    };
    check(&engine, &ids[..a.check.min(ids.len())])?;
    let warmup = if a.warm { a.queries } else { 10 };
    for id in ids.iter().take(warmup) {
        match_id(&engine, id, &single, a.strategy)?;
    }
    let mut lat = Vec::with_capacity(a.queries);
    for id in ids.iter().take(a.queries) {
        let t = Instant::now();
        let r = match_id(&engine, id, &single, a.strategy)?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(r);
    }
    lat.sort_by(f64::total_cmp);
    let mean = lat.iter().sum::<f64>() / lat.len().max(1) as f64;

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads)
        .build()?;
    let participants = &ids[..a.batch.min(ids.len())];
    let bulk = MatchOptions {
        top: 50,
        reasons: false,
        ..MatchOptions::default()
    };
    let t = Instant::now();
    let (lists, pairs) = pool.install(|| batch(&engine, participants, &bulk, a.strategy))?;
    let batch_s = t.elapsed().as_secs_f64();
    engine.index().keep_warm(a.preload);
    let (writes, after) = write_latencies(&engine, &ids, a.writes, &single)?;

    let out = serde_json::json!({
        "n": engine.index().len(),
        "queries": lat.len(),
        "p50_ms": pct(&lat, 50.0),
        "p99_ms": pct(&lat, 99.0),
        "mean_ms": mean,
        "batch": participants.len(),
        "batch_s": batch_s,
        "batch_threads": a.threads,
        "batch_matches": lists,
        "mutual_pairs": pairs,
        "open_s": open_s,
        "preload_s": preload_s,
        "preloaded": preloaded,
        "cached_postings": engine.index().snapshot().cache.postings_held(),
        "strategy": format!("{:?}", a.strategy),
        "warm": a.warm,
        "writes": writes.len(),
        "write_p50_ms": if writes.is_empty() { 0.0 } else { pct(&writes, 50.0) },
        "write_max_ms": writes.last().copied().unwrap_or(0.0),
        "after_write_p50_ms": if after.is_empty() { 0.0 } else { pct(&after, 50.0) },
        "after_write_p99_ms": if after.is_empty() { 0.0 } else { pct(&after, 99.0) },
    });
    println!("{out}");
    Ok(())
}

/// Queries timed right after each write.
const AFTER_WRITE: usize = 5;

/// Upserts `n` stored profiles again, one per write, and returns each write's milliseconds,
/// sorted: the commit, the merges and the new snapshot (what `PUT /profiles` waits for); and
/// the milliseconds of the [`AFTER_WRITE`] queries sent right after each write, sorted.
fn write_latencies(
    engine: &Engine,
    ids: &[String],
    n: usize,
    opts: &MatchOptions,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut lat = Vec::with_capacity(n);
    let mut after = Vec::with_capacity(n * AFTER_WRITE);
    let mut queries = ids.iter().rev().cycle();
    for id in ids.iter().cycle().take(n) {
        let profile = engine.get(id)?;
        let t = Instant::now();
        engine.upsert(std::slice::from_ref(&profile))?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        for q in queries.by_ref().take(AFTER_WRITE) {
            let t = Instant::now();
            std::hint::black_box(engine.match_id(q, opts)?);
            after.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    lat.sort_by(f64::total_cmp);
    after.sort_by(f64::total_cmp);
    Ok((lat, after))
}

/// Ranks every participant (top 50, no reasons) in parallel, then scores each listed pair of
/// participants both ways with the harmonic mean. Returns (matches listed, mutual pairs scored).
fn batch(
    engine: &Engine,
    participants: &[String],
    opts: &MatchOptions,
    strategy: Strategy,
) -> Result<(usize, usize)> {
    let results = participants
        .par_iter()
        .map(|id| match_id(engine, id, opts, strategy))
        .collect::<clustermatch::Result<Vec<_>>>()?;
    let mut directed: HashMap<(&str, &str), f32> = HashMap::new();
    for (a, r) in participants.iter().zip(&results) {
        for m in &r.matches {
            directed.insert((a.as_str(), m.id.as_str()), m.score);
        }
    }
    let mut mutual: HashMap<(&str, &str), f32> = HashMap::new();
    for (&(a, b), &s) in &directed {
        let back = directed.get(&(b, a)).copied().unwrap_or(0.0);
        let key = if a < b { (a, b) } else { (b, a) };
        mutual.insert(key, clustermatch::score::mutual(s, back));
    }
    std::hint::black_box(&mutual);
    Ok((directed.len(), mutual.len()))
}

/// `Engine::match_id` with a chosen ranking strategy.
fn match_id(
    engine: &Engine,
    id: &str,
    opts: &MatchOptions,
    strategy: Strategy,
) -> clustermatch::Result<MatchResult> {
    if strategy == Strategy::Auto {
        return engine.match_id(id, opts);
    }
    let index = engine.index();
    let snap = index.snapshot();
    let row = snap
        .row_of_id(id)
        .ok_or_else(|| clustermatch::Error::Usage(format!("unknown id {id}")))?;
    let r = snap.rows[row as usize];
    let q = ResolvedQuery {
        profile: index.profile_at(&snap, row)?,
        sectors: r.sectors,
        sectors_inferred: r.inferred,
    };
    rank::rank_with(index, &snap, &q, engine.params(), opts, strategy)
}

/// Fails unless the default (pruned) and the exhaustive rankings agree on these queries.
fn check(engine: &Engine, ids: &[String]) -> Result<()> {
    for top in [20, 50] {
        let opts = MatchOptions {
            top,
            ..MatchOptions::default()
        };
        for id in ids {
            let a = match_id(engine, id, &opts, Strategy::Auto)?;
            let b = match_id(engine, id, &opts, Strategy::Exhaustive)?;
            let same = a.matches.len() == b.matches.len()
                && a.matches.iter().zip(&b.matches).all(|(x, y)| {
                    x.id == y.id && (x.score - y.score).abs() <= 1e-6 && x.reasons == y.reasons
                })
                && a.query.candidates == b.query.candidates;
            if !same {
                bail!("pruned and exhaustive rankings differ for {id} (top {top})");
            }
        }
    }
    if !ids.is_empty() {
        eprintln!("check: pruned == exhaustive on {} queries", ids.len());
    }
    Ok(())
}
