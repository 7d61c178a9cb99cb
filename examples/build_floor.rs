//! How fast tantivy alone indexes a corpus on this machine: the ceiling on
//! `clustermatch index`'s rate, whatever the rest of the pipeline costs.
//!
//! The profiles are read, validated and turned into tantivy documents before the clock starts;
//! only `IndexWriter::add_document` for every document, the commit and the merges are timed, on
//! the same writer settings as `clustermatch index` (one indexing thread per core, at most 4).
//! Three schemas, from the least to the most that is indexed:
//!
//! - `text-default`: the three text fields with tantivy's default tokenizer (no stemming, no
//!   stop words), nothing stored — about what the tantivy-py peer indexes;
//! - `text-ours`: the three text fields with clustermatch's English analyzer, nothing stored;
//! - `full`: clustermatch's whole schema and documents (ids, names, stored profile, fast
//!   fields).
//!
//! ```text
//! cargo run --release --example build_floor -- FILE.jsonl [DIR]
//! ```
//!
//! Prints one JSON line per schema: `{"schema", "profiles", "seconds", "profiles_per_s"}`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clustermatch::index::schema::{self, Fields};
use clustermatch::taxonomy::taxonomy;
use clustermatch::Profile;
use tantivy::schema::{Schema, TextFieldIndexing, TextOptions, INDEXED};
use tantivy::{Index, TantivyDocument};

/// The same allocator as the `clustermatch` binary, so that the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<()> {
    clustermatch::alloc::keep_freed_memory();
    let mut args = std::env::args().skip(1);
    let corpus = PathBuf::from(args.next().context("usage: build_floor FILE.jsonl [DIR]")?);
    let dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("cm-build-floor"));
    let profiles = clustermatch::input::read_profiles(&corpus)?;
    for name in ["text-default", "text-ours", "full"] {
        let (index, docs) = prepare(name, &profiles, &dir.join(name))?;
        let seconds = index_all(&index, docs)?;
        println!(
            "{}",
            serde_json::json!({
                "schema": name,
                "profiles": profiles.len(),
                "seconds": seconds,
                "profiles_per_s": (profiles.len() as f64 / seconds).round(),
            })
        );
    }
    Ok(())
}

/// An empty index in `dir` with the named schema, and the documents to put in it.
fn prepare(name: &str, profiles: &[Profile], dir: &Path) -> Result<(Index, Vec<TantivyDocument>)> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    if name == "full" {
        let (schema, fields) = Fields::schema();
        let index = Index::create_in_dir(dir, schema)?;
        schema::register(&index);
        let t = taxonomy();
        let docs = profiles
            .iter()
            .map(|p| fields.document(p, t.set_of(&p.sectors), false))
            .collect();
        return Ok((index, docs));
    }
    let tokenizer = if name == "text-ours" {
        schema::ANALYZER
    } else {
        "default"
    };
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(tokenizer)
            .set_index_option(tantivy::schema::IndexRecordOption::WithFreqs),
    );
    let mut b = Schema::builder();
    let about = b.add_text_field("about", text.clone());
    let offering = b.add_text_field("offering", text.clone());
    let seeking = b.add_text_field("seeking", text);
    let _row = b.add_u64_field("row", INDEXED);
    let index = Index::create_in_dir(dir, b.build())?;
    schema::register(&index);
    let docs = profiles
        .iter()
        .map(|p| {
            let mut d = TantivyDocument::default();
            d.add_text(about, schema::about_text(p));
            d.add_text(offering, &p.offering);
            d.add_text(seeking, &p.seeking);
            d
        })
        .collect();
    Ok((index, docs))
}

/// Seconds to add every document, commit and finish the merges.
fn index_all(index: &Index, docs: Vec<TantivyDocument>) -> Result<f64> {
    let (threads, memory) = clustermatch::index::writer_settings();
    let threads = env_or("FLOOR_THREADS", threads);
    let memory = env_or("FLOOR_MEMORY_MB", memory / 1_000_000) * 1_000_000;
    let start = Instant::now();
    let mut writer = index.writer_with_num_threads(threads, memory)?;
    for doc in docs {
        writer.add_document(doc)?;
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    Ok(start.elapsed().as_secs_f64())
}

/// A number from the environment (to try other writer settings), or the default.
fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
