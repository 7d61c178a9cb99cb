//! Raw command-line arguments (clap derive). Only parsing here; resolution happens in
//! `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Partner matchmaking for clusters, science parks and business networks.
#[derive(Debug, Parser)]
#[command(name = "clustermatch", version, about, long_about = None)]
#[command(
    after_help = "Examples:\n  clustermatch match --id lyonbiopole --top 5\n  clustermatch match --text \"water management and flood protection\" --target CN\n  clustermatch index --input participants.csv\n  clustermatch eval --truth fixtures/partners.csv"
)]
pub struct Cli {
    /// Index directory [default: index/; env CLUSTERMATCH_INDEX]
    #[arg(long, global = true, env = "CLUSTERMATCH_INDEX", value_name = "DIR")]
    pub index: Option<PathBuf>,
    /// Config file (TOML) [default: ./clustermatch.toml when present; env CLUSTERMATCH_CONFIG]
    #[arg(long, global = true, env = "CLUSTERMATCH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Ignore every config file.
    #[arg(long, global = true)]
    pub no_config: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate profiles and upsert them into the index by id (all-or-nothing), or delete ids.
    #[command(
        after_help = "Examples:\n  clustermatch index --input fixtures/profiles.jsonl\n  clustermatch index --input members.csv --input more.xlsx\n  clustermatch index --delete old-id --delete other-id"
    )]
    Index(IndexArgs),
    /// Pack the index into as few segments as fit (deleted profiles purged): faster queries for
    /// an index read far more than it is written.
    #[command(
        after_help = "Example:\n  clustermatch index --input members.jsonl && clustermatch optimize"
    )]
    Optimize,
    /// Rank partners for one organisation, with the reasons for every match.
    #[command(name = "match")]
    #[command(
        after_help = "Examples:\n  clustermatch match --id lyonbiopole --top 5\n  clustermatch match --profile me.jsonl --format json\n  clustermatch match --text \"personalised healthcare\" --sector biotech --country FR --target CN\n  clustermatch match --id lyonbiopole --only-country CN --explain"
    )]
    Match(Box<MatchArgs>),
    /// Show a stored profile.
    #[command(after_help = "Example:\n  clustermatch show lyonbiopole")]
    Show(ShowArgs),
    /// List the sector taxonomy.
    #[command(
        after_help = "Examples:\n  clustermatch sectors\n  clustermatch sectors --format json"
    )]
    Sectors(SectorsArgs),
    /// Measure ranking quality against known partner pairs.
    #[command(
        after_help = "Examples:\n  clustermatch eval --truth fixtures/partners.csv\n  clustermatch eval --truth fixtures/partners.csv --format json --per-query"
    )]
    Eval(EvalArgs),
    /// Learn the scoring parameters from known partner pairs (cross-validated) and write a config.
    #[command(
        after_help = "Examples:\n  clustermatch tune --truth fixtures/partners.csv --out tuned.toml\n  clustermatch --config tuned.toml eval --truth fixtures/partners.csv"
    )]
    Tune(TuneArgs),
    /// Plan an event: rank every participant, mutual scores, a meeting agenda, exports, report.
    #[command(
        after_help = "Examples:\n  clustermatch batch --participants participants.csv --slots 09:00-12:30/20m --break 10:30-11:00 --tables 40 --out event/\n  clustermatch batch --participants p.xlsx --requests requests.csv --keep event/meetings.csv --out event2/"
    )]
    Batch(super::batch::BatchArgs),
    /// Serve the index as an HTTP JSON API (match, profiles, sectors, OpenAPI document).
    #[command(
        after_help = "Examples:\n  clustermatch serve --addr 127.0.0.1:8080\n  CLUSTERMATCH_TOKEN=secret clustermatch serve --addr 0.0.0.0:8080\n  curl -s localhost:8080/openapi.json"
    )]
    Serve(super::serve::ServeArgs),
    /// Print the resolved configuration (defaults, config file, environment and flags).
    #[command(after_help = "Example:\n  clustermatch config")]
    Config,
}

/// Output format.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FormatArg {
    /// Aligned text.
    Table,
    /// JSON.
    Json,
    /// CSV.
    Csv,
}

impl From<FormatArg> for clustermatch::output::Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Table => clustermatch::output::Format::Table,
            FormatArg::Json => clustermatch::output::Format::Json,
            FormatArg::Csv => clustermatch::output::Format::Csv,
        }
    }
}

/// `index` arguments.
#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Profile files to upsert (.jsonl, .csv, .xlsx); repeatable.
    #[arg(long, short, value_name = "FILE")]
    pub input: Vec<PathBuf>,
    /// Ids to delete; repeatable.
    #[arg(long, value_name = "ID")]
    pub delete: Vec<String>,
    /// CSV delimiter: `,`, `;`, `tab` or any one character [default: detected from the header].
    #[arg(long, value_name = "CHAR", value_parser = super::index_cmd::parse_delimiter)]
    pub delimiter: Option<u8>,
}

/// `match` arguments.
#[derive(Debug, Args)]
pub struct MatchArgs {
    /// Rank for the stored profile with this id.
    #[arg(long, conflicts_with_all = ["profile", "text"])]
    pub id: Option<String>,
    /// Rank for the profile(s) in a file (.jsonl, .csv, .xlsx).
    #[arg(long, value_name = "FILE", conflicts_with = "text")]
    pub profile: Option<PathBuf>,
    /// Rank for a free-text description of what you look for.
    #[arg(long)]
    pub text: Option<String>,
    /// Query sectors (codes or aliases) for --text; repeatable, or comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub sector: Vec<String>,
    /// The asking organisation's country, for --text.
    #[arg(long)]
    pub country: Option<String>,
    /// Countries you target, for --text (codes or EU); repeatable, or comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub target: Vec<String>,
    /// Number of matches [default: 10, or `top` in the config].
    #[arg(long)]
    pub top: Option<usize>,
    /// Keep only candidates in these countries.
    #[arg(long, value_delimiter = ',')]
    pub only_country: Vec<String>,
    /// Keep only candidates of these kinds (cluster, network, science_park, ...).
    #[arg(long, value_delimiter = ',')]
    pub only_kind: Vec<String>,
    /// Keep only candidates with one of these sectors.
    #[arg(long, value_delimiter = ',')]
    pub only_sector: Vec<String>,
    /// Keep only candidates scoring at least this (0-1).
    #[arg(long)]
    pub min_score: Option<f32>,
    /// Never return these ids.
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Weight of the text component.
    #[arg(long)]
    pub w_text: Option<f32>,
    /// Weight of the sector component.
    #[arg(long)]
    pub w_sector: Option<f32>,
    /// Weight of the country component.
    #[arg(long)]
    pub w_country: Option<f32>,
    /// Print the full score explanation of every match.
    #[arg(long)]
    pub explain: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
}

/// `show` arguments.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Profile id.
    pub id: String,
}

/// `sectors` arguments.
#[derive(Debug, Args)]
pub struct SectorsArgs {
    /// Output format (table or json).
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
}

/// `eval` arguments.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Known partner pairs: CSV with columns a, b, grade.
    #[arg(long, value_name = "FILE")]
    pub truth: PathBuf,
    /// Print per-query figures and failures.
    #[arg(long)]
    pub per_query: bool,
    /// Output format (table or json).
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
}

/// `tune` arguments.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// Known partner pairs: CSV with columns a, b, grade.
    #[arg(long, value_name = "FILE")]
    pub truth: PathBuf,
    /// Number of cross-validation folds over query ids.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Rounds of coordinate ascent.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Parameters to tune, comma-separated (weights.text, weights.sector, weights.country,
    /// sector.related, sector.ecosystem, sector.query_side, country.forward, country.shared,
    /// text.expansion, text.floor, text.seeking_about, text.offering_seeking), or
    /// `all` [default: the three weights].
    #[arg(long, value_delimiter = ',')]
    pub params: Vec<String>,
    /// Where to write the fitted config (TOML).
    #[arg(long, value_name = "FILE", default_value = "tuned.toml")]
    pub out: PathBuf,
}
