//! `clustermatch batch`: plan an event — rank every participant, mutual scores, the meeting
//! agenda, and every export — over the library's [`clustermatch::event`] module.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use clustermatch::config::Config;
use clustermatch::event::batch::{plan_with, PlanOptions, Progress, Stage};
use clustermatch::event::{export, input, EventShape, SessionSpec, TimeRange};
use clustermatch::Engine;

/// `batch` arguments (a flag given twice: the last one wins).
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub struct BatchArgs {
    /// Participants (.jsonl, .csv, .xlsx): profiles, or just `id` for organisations already in
    /// the index; optional columns `availability` (slot numbers 1-4;7 or times 09:00-10:30)
    /// and `max_meetings`.
    #[arg(long, value_name = "FILE")]
    pub participants: PathBuf,
    /// Requests (.csv, .jsonl, .xlsx): columns a, b, type (meet|apart), priority, note.
    #[arg(long, value_name = "FILE")]
    pub requests: Option<PathBuf>,
    /// An earlier meetings.csv whose meetings stay where they are.
    #[arg(long, value_name = "FILE")]
    pub keep: Option<PathBuf>,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Sessions and slot length, e.g. 09:00-12:30/20m; repeatable or comma-separated.
    #[arg(long, value_name = "SPEC")]
    pub slots: Vec<String>,
    /// Breaks, e.g. 10:30-11:00; repeatable or comma-separated.
    #[arg(long = "break", value_name = "RANGE")]
    pub breaks: Vec<String>,
    /// Number of tables [default: as many as needed].
    #[arg(long)]
    pub tables: Option<usize>,
    /// Minimum mutual score of a proposed meeting (0-1) [default: 0.15].
    #[arg(long)]
    pub min_score: Option<f32>,
    /// Default cap on meetings per participant [default: 8].
    #[arg(long)]
    pub max_meetings: Option<usize>,
    /// Event date YYYY-MM-DD (calendar files) [default: today].
    #[arg(long)]
    pub date: Option<String>,
    /// Event name (report and calendars).
    #[arg(long)]
    pub name: Option<String>,
    /// Rank every participant against the whole index, not only the other participants.
    #[arg(long)]
    pub against_index: bool,
    /// Partners kept per participant when ranking (candidate pairs for the agenda).
    #[arg(long, default_value_t = 60)]
    pub candidates: usize,
    /// Recommendations listed per participant.
    #[arg(long, default_value_t = 10)]
    pub recommendations: usize,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn stage(&self, stage: Stage, total: u64) {
        self.0.set_length(total);
        self.0.set_position(0);
        self.0.set_message(stage.label());
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

fn usage(m: String) -> anyhow::Error {
    super::commands::UsageError(m).into()
}

/// The event shape: flags > config `[event]` > defaults.
fn shape(a: &BatchArgs, config: &Config) -> Result<EventShape> {
    let c = &config.event;
    let split = |v: &[String]| -> Vec<String> {
        v.iter()
            .flat_map(|s| s.split(',').map(|x| x.trim().to_string()))
            .filter(|s| !s.is_empty())
            .collect()
    };
    let sessions = if a.slots.is_empty() {
        c.slots.clone()
    } else {
        split(&a.slots)
            .iter()
            .map(|s| SessionSpec::parse(s).map_err(|m| usage(format!("--slots: {m}"))))
            .collect::<Result<_>>()?
    };
    let mut shape = EventShape {
        sessions,
        ..EventShape::default()
    };
    shape.breaks = if a.breaks.is_empty() {
        c.breaks.clone()
    } else {
        split(&a.breaks)
            .iter()
            .map(|s| TimeRange::parse(s).map_err(|m| usage(format!("--break: {m}"))))
            .collect::<Result<_>>()?
    };
    shape.tables = a.tables.or(c.tables);
    shape.min_score = a
        .min_score
        .or(c.min_score)
        .unwrap_or(clustermatch::event::DEFAULT_MIN_SCORE);
    shape.max_meetings = a
        .max_meetings
        .or(c.max_meetings)
        .unwrap_or(clustermatch::event::DEFAULT_MAX_MEETINGS);
    shape.date = a.date.clone().or_else(|| c.date.clone());
    shape.name = a
        .name
        .clone()
        .or_else(|| c.name.clone())
        .unwrap_or_default();
    shape.check()?;
    Ok(shape)
}

/// Runs `batch`; `engine` opens the index (only when needed: rows given by id, or
/// `--against-index`).
pub fn run(a: &BatchArgs, config: &Config, engine: &dyn Fn() -> Result<Engine>) -> Result<()> {
    let shape = shape(a, config)?;
    let needs_index = a.against_index || input::has_id_only_rows(&a.participants)?;
    let index = if needs_index { Some(engine()?) } else { None };
    let participants = input::read_participants(&a.participants, &shape, index.as_ref())?;
    let requests = match &a.requests {
        Some(p) => input::read_requests(p, &participants)?,
        None => Vec::new(),
    };
    let locked = match &a.keep {
        Some(p) => input::read_locked(p, &participants)?,
        None => Vec::new(),
    };
    let opts = PlanOptions {
        candidates: a.candidates,
        recommendations: a.recommendations,
        params: config.scoring.clone(),
        locked,
    };
    let bar = if a.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template("{msg:>14} [{bar:40}] {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b
    };
    let progress = Bar(bar);
    let agenda = plan_with(
        &participants,
        &requests,
        &shape,
        &opts,
        if a.against_index {
            index.as_ref()
        } else {
            None
        },
        &progress,
    )?;
    progress.0.finish_and_clear();
    let files = export::write_all(&agenda, &a.out)?;
    let s = &agenda.stats;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} participants, {} slots × {} tables: {} meetings ({} kept), fill rate {:.1}%, total score {:.2} of at most {:.2} ({:.1}%), {} without a meeting, {} recommended or requested pairs unscheduled",
        s.participants,
        s.slots,
        s.tables,
        s.meetings,
        s.locked,
        s.fill_rate * 100.0,
        s.total_score,
        s.upper_bound,
        s.ratio * 100.0,
        s.without_meetings,
        agenda.unscheduled.len()
    )?;
    writeln!(
        out,
        "wrote {} files to {} (report.html, agenda.xlsx, meetings.csv, ics/…)",
        files.len(),
        a.out.display()
    )?;
    Ok(())
}
