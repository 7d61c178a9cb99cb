//! One function per command, over the library. Settings are resolved here: flags >
//! `CLUSTERMATCH_*` environment (merged by clap) > config file > defaults.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use clustermatch::config::{self, Config};
use clustermatch::output::{self, Format};
use clustermatch::{eval, input, Engine, Filters, Kind, MatchOptions, TextQuery};

use super::args::{Cli, Command, EvalArgs, FormatArg, MatchArgs, SectorsArgs, TuneArgs};

/// A usage error found by the CLI itself (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub(super) fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// Where the fixtures that seed a new default index live.
const FIXTURES: &str = "fixtures/profiles.jsonl";

/// Resolved global settings.
pub(super) struct Settings {
    pub(super) config: Config,
    pub(super) index: PathBuf,
    index_is_default: bool,
}

impl Settings {
    fn resolve(cli: &Cli) -> Result<Settings> {
        let config = if cli.no_config {
            Config::default()
        } else if let Some(path) = &cli.config {
            Config::load(path)?
        } else if Path::new(config::DEFAULT_FILE).is_file() {
            Config::load(Path::new(config::DEFAULT_FILE))?
        } else {
            Config::default()
        };
        let (index, index_is_default) = match (&cli.index, &config.index) {
            (Some(p), _) => (p.clone(), false),
            (None, Some(p)) => (p.clone(), false),
            (None, None) => (PathBuf::from("index"), true),
        };
        Ok(Settings {
            config,
            index,
            index_is_default,
        })
    }

    /// Opens the engine; a missing default index is first built from the fixtures.
    pub(super) fn engine(&self) -> Result<Engine> {
        let exists = clustermatch::ProfileIndex::exists(&self.index);
        if !exists && self.index_is_default {
            self.build_from_fixtures()?;
        }
        let engine = Engine::open(&self.index)?;
        Ok(engine.with_params(self.config.scoring.clone())?)
    }

    /// Opens the engine for writing: creates the index when there is none (the default index is
    /// first seeded from the fixtures, as for every first command).
    pub(super) fn engine_for_write(&self) -> Result<Engine> {
        if !clustermatch::ProfileIndex::exists(&self.index) && self.index_is_default {
            self.build_from_fixtures()?;
        }
        let engine = Engine::open_or_create(&self.index)?;
        Ok(engine.with_params(self.config.scoring.clone())?)
    }

    fn build_from_fixtures(&self) -> Result<()> {
        let local = PathBuf::from(FIXTURES);
        let source = if local.is_file() {
            local
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURES)
        };
        let profiles = input::read_profiles(&source)
            .with_context(|| format!("building the default index from {}", source.display()))?;
        eprintln!(
            "note: no index at {}/ yet: building it from {} ({} profiles)",
            self.index.display(),
            source.display(),
            profiles.len()
        );
        let engine = Engine::open_or_create(&self.index)?;
        engine.upsert(&profiles)?;
        Ok(())
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let settings = Settings::resolve(&cli)?;
    match &cli.command {
        Command::Index(a) => super::index_cmd::index(&settings, a),
        Command::Optimize => {
            let started = std::time::Instant::now();
            let index = settings.engine()?.into_index();
            let profiles = index.len();
            let (before, after) = index.optimize_last()?;
            eprintln!(
                "optimized {}: {before} segment(s) -> {after}, {profiles} profiles, in {:.1} s",
                settings.index.display(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Match(a) => match_cmd(&settings, a),
        Command::Show(a) => {
            let p = settings.engine()?.get(&a.id)?;
            println!("{}", serde_json::to_string_pretty(&p)?);
            Ok(())
        }
        Command::Sectors(a) => sectors(a),
        Command::Serve(a) => super::serve::run(&settings, a),
        Command::Eval(a) => eval_cmd(&settings, a),
        Command::Tune(a) => tune_cmd(&settings, a),
        Command::Batch(a) => super::batch::run(a, &settings.config, &|| settings.engine()),
        Command::Config => {
            let mut c = settings.config.redacted();
            c.index = Some(settings.index.clone());
            print!("{}", c.to_toml());
            Ok(())
        }
    }
}

fn match_options(settings: &Settings, a: &MatchArgs) -> Result<MatchOptions> {
    let mut kinds = Vec::new();
    for k in &a.only_kind {
        kinds.push(Kind::parse(k).ok_or_else(|| {
            let hint = clustermatch::error::nearest(k, Kind::ALL.iter().map(|k| k.as_str()))
                .map(|s| format!("; did you mean \"{s}\"?"))
                .unwrap_or_default();
            usage(format!("--only-kind: unknown kind \"{k}\"{hint}"))
        })?);
    }
    Ok(MatchOptions {
        top: a.top.or(settings.config.top).unwrap_or(10),
        explain: a.explain,
        reasons: true,
        filters: Filters {
            countries: a.only_country.clone(),
            kinds,
            sectors: a.only_sector.clone(),
            min_score: a.min_score.unwrap_or(0.0),
            exclude: a.exclude.clone(),
        },
    })
}

fn match_cmd(settings: &Settings, a: &MatchArgs) -> Result<()> {
    let opts = match_options(settings, a)?;
    let mut params = settings.config.scoring.clone();
    if let Some(w) = a.w_text {
        params.weights.text = w;
    }
    if let Some(w) = a.w_sector {
        params.weights.sector = w;
    }
    if let Some(w) = a.w_country {
        params.weights.country = w;
    }
    params.check().map_err(usage)?;
    let engine = settings.engine()?.with_params(params)?;
    let results = if let Some(id) = &a.id {
        vec![engine.match_id(id, &opts)?]
    } else if let Some(path) = &a.profile {
        let profiles = input::read_profiles(path)?;
        profiles
            .iter()
            .map(|p| engine.match_profile(p, &opts))
            .collect::<clustermatch::Result<Vec<_>>>()?
    } else if a.text.is_some() || !a.sector.is_empty() || !a.target.is_empty() {
        let q = TextQuery {
            text: a.text.clone().unwrap_or_default(),
            sectors: a.sector.clone(),
            country: a.country.clone(),
            targets: a.target.clone(),
        };
        vec![engine.match_text(&q, &opts)?]
    } else {
        return Err(usage(
            "give --id ID, --profile FILE, or --text TEXT (with --sector/--country/--target)",
        ));
    };
    let mut out = std::io::stdout().lock();
    let format: Format = a.format.into();
    for (i, r) in results.iter().enumerate() {
        if i > 0 && format == Format::Table {
            writeln!(out)?;
        }
        if format == Format::Json && results.len() > 1 {
            serde_json::to_writer(&mut out, r)?;
            writeln!(out)?;
        } else {
            output::write_matches(&mut out, r, format)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn sectors(a: &SectorsArgs) -> Result<()> {
    let t = clustermatch::taxonomy::taxonomy();
    let mut out = std::io::stdout().lock();
    match a.format {
        FormatArg::Json => {
            let v = serde_json::json!({"ecosystems": t.ecosystems(), "sectors": t.sectors()});
            serde_json::to_writer_pretty(&mut out, &v)?;
            writeln!(out)?;
        }
        FormatArg::Csv => {
            return Err(usage(
                "sectors: --format csv is not offered; use table or json",
            ))
        }
        FormatArg::Table => {
            let rows: Vec<Vec<String>> = t
                .sectors()
                .iter()
                .map(|s| {
                    vec![
                        s.code.clone(),
                        s.ecosystems.join(","),
                        s.aliases
                            .iter()
                            .take(4)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", "),
                    ]
                })
                .collect();
            out.write_all(output::table(&["code", "ecosystems", "aliases"], &rows).as_bytes())?;
            writeln!(
                out,
                "\n{} sectors in {} ecosystems",
                t.sectors().len(),
                t.ecosystems().len()
            )?;
        }
    }
    Ok(())
}

fn eval_cmd(settings: &Settings, a: &EvalArgs) -> Result<()> {
    let engine = settings.engine()?;
    let pairs = eval::read_truth(&a.truth, &engine)?;
    let report = eval::evaluate(&engine, &pairs)?;
    let mut out = std::io::stdout().lock();
    match a.format {
        FormatArg::Json => {
            let mut v = serde_json::to_value(&report)?;
            if !a.per_query {
                if let Some(slices) = v.get_mut("slices").and_then(|s| s.as_array_mut()) {
                    for s in slices {
                        if let Some(o) = s.as_object_mut() {
                            o.remove("per_query");
                        }
                    }
                }
            }
            serde_json::to_writer_pretty(&mut out, &v)?;
            writeln!(out)?;
        }
        FormatArg::Csv => {
            return Err(usage(
                "eval: --format csv is not offered; use table or json",
            ))
        }
        FormatArg::Table => write_eval_table(&mut out, &report, a.per_query)?,
    }
    Ok(())
}

fn write_eval_table(out: &mut impl Write, report: &eval::Report, per_query: bool) -> Result<()> {
    let f = |x: f64| format!("{x:.3}");
    let rows: Vec<Vec<String>> = report
        .slices
        .iter()
        .map(|s| {
            let m = s.overall;
            vec![
                s.name.clone(),
                s.queries.to_string(),
                f(m.recall_at_5),
                f(m.recall_at_10),
                f(m.recall_at_20),
                f(m.mrr),
                f(m.ndcg_at_10),
            ]
        })
        .collect();
    writeln!(out, "{} known pairs", report.pairs)?;
    out.write_all(
        output::table(
            &[
                "slice",
                "queries",
                "recall@5",
                "recall@10",
                "recall@20",
                "MRR",
                "nDCG@10",
            ],
            &rows,
        )
        .as_bytes(),
    )?;
    if per_query {
        if let Some(s) = report.slices.first() {
            writeln!(out)?;
            let rows: Vec<Vec<String>> = s
                .per_query
                .iter()
                .map(|q| {
                    let misses: Vec<String> = q
                        .misses
                        .iter()
                        .map(|m| format!("{} #{} (lost on {})", m.partner, m.rank, m.lost_on))
                        .collect();
                    vec![
                        q.id.clone(),
                        q.relevant.to_string(),
                        f(q.metrics.recall_at_10),
                        f(q.metrics.mrr),
                        f(q.metrics.ndcg_at_10),
                        misses.join("; "),
                    ]
                })
                .collect();
            out.write_all(
                output::table(
                    &["query", "partners", "recall@10", "MRR", "nDCG@10", "missed"],
                    &rows,
                )
                .as_bytes(),
            )?;
        }
    }
    Ok(())
}

fn tune_cmd(settings: &Settings, a: &TuneArgs) -> Result<()> {
    let engine = settings.engine()?;
    let pairs = eval::read_truth(&a.truth, &engine)?;
    let start = engine.params().clone();
    let knobs = clustermatch::tune::select(&a.params).map_err(usage)?;
    let report = clustermatch::tune::tune(&engine, &pairs, &start, &knobs, a.folds, a.rounds)?;
    let mut out = std::io::stdout().lock();
    let rows: Vec<Vec<String>> = report
        .folds
        .iter()
        .enumerate()
        .map(|(i, f)| {
            vec![
                (i + 1).to_string(),
                f.queries.to_string(),
                format!("{:.3}", f.start_ndcg),
                format!("{:.3}", f.tuned_ndcg),
            ]
        })
        .collect();
    out.write_all(
        output::table(
            &["fold", "held-out queries", "nDCG@10 start", "nDCG@10 tuned"],
            &rows,
        )
        .as_bytes(),
    )?;
    writeln!(
        out,
        "\ncross-validated nDCG@10: {:.3} with the starting parameters, {:.3} tuned",
        report.cv_start_ndcg, report.cv_tuned_ndcg
    )?;
    writeln!(
        out,
        "fitted on all {} queries: training nDCG@10 {:.3}",
        eval::query_ids(&pairs).len(),
        report.fitted.train_ndcg
    )?;
    let config = Config {
        scoring: report.fitted.params.clone(),
        ..Config::default()
    };
    let text = format!(
        "# Fitted by `clustermatch tune --truth {}` (cross-validated nDCG@10 {:.3}, start {:.3}).\n{}",
        a.truth.display(),
        report.cv_tuned_ndcg,
        report.cv_start_ndcg,
        config.to_toml()
    );
    std::fs::write(&a.out, text).with_context(|| format!("writing {}", a.out.display()))?;
    writeln!(out, "wrote {}", a.out.display())?;
    Ok(())
}
