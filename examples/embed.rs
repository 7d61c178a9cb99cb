//! Embedding clustermatch in a Rust program: open (or create) an index, upsert profiles, rank
//! partners for a stored profile and for free text, and print the reasons.
//!
//! Run with `cargo run --example embed` (uses a temporary index directory).

use std::io::Write;

use clustermatch::{Engine, MatchOptions, Profile, TextQuery};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("clustermatch-embed-{}", std::process::id()));
    let result = run(&dir, &mut std::io::stdout().lock());
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The example itself, writing to `out` (so a test can check what it prints).
pub fn run(
    index_dir: &std::path::Path,
    out: &mut impl Write,
) -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::open_or_create(index_dir)?;
    let org = |id: &str, country: &str, text: &str, targets: &[&str]| Profile {
        id: id.into(),
        name: id.into(),
        country: country.into(),
        description: text.into(),
        target_countries: targets.iter().map(|t| t.to_string()).collect(),
        ..Profile::default()
    };
    engine.upsert(&[
        org(
            "water-fr",
            "FR",
            "wastewater treatment, membranes and water reuse",
            &["CN"],
        ),
        org(
            "water-cn",
            "CN",
            "membranes for wastewater treatment plants",
            &["FR"],
        ),
        org(
            "cars-de",
            "DE",
            "electric cars, batteries and charging",
            &[],
        ),
    ])?;

    let by_id = engine.match_id("water-fr", &MatchOptions::default())?;
    for m in &by_id.matches {
        writeln!(
            out,
            "{} {} {:.3} {}",
            m.rank,
            m.id,
            m.score,
            m.reasons.join("; ")
        )?;
    }

    let query = TextQuery {
        text: "battery charging".into(),
        ..TextQuery::default()
    };
    let by_text = engine.match_text(
        &query,
        &MatchOptions {
            top: 1,
            ..MatchOptions::default()
        },
    )?;
    if let Some(best) = by_text.matches.first() {
        writeln!(out, "text: {}", best.id)?;
    }
    Ok(())
}
