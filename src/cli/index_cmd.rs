//! `clustermatch index`: one streaming pass validates every input record (keeping only ids and
//! problems) and feeds the valid profiles to the index writer in batches until a problem is
//! found; ONE commit at the end, only when no problem was found, makes the run all-or-nothing. Memory stays bounded whatever the file size;
//! a progress bar shows on stderr when it is a terminal.

use std::fs::File;
use std::io::{BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use clustermatch::index::ProfileSink;
use clustermatch::input::{self, ProfileCheck, RecordItem};
use clustermatch::Error;

use super::args::IndexArgs;
use super::commands::{usage, Settings};

/// Parses `--delimiter`: one ASCII character, or `tab`, `comma`, `semicolon`.
pub(super) fn parse_delimiter(s: &str) -> std::result::Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        "comma" => Ok(b','),
        "semicolon" => Ok(b';'),
        _ if s.len() == 1 && s.is_ascii() && !matches!(s, "\"" | "\n" | "\r") => {
            Ok(s.as_bytes()[0])
        }
        _ => Err("use one character such as , or ; (or the word tab)".into()),
    }
}

/// Runs `clustermatch index`.
pub(super) fn index(settings: &Settings, a: &IndexArgs) -> Result<()> {
    if a.input.is_empty() && a.delete.is_empty() {
        return Err(usage(
            "nothing to do: give --input FILE to upsert profiles or --delete ID to remove one",
        ));
    }
    for path in &a.input {
        input::format_of(path)?;
        if !path.is_file() {
            // The same located error as reading it would give.
            File::open(path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        }
    }
    let created = !settings.index.exists();
    let engine = settings.engine_for_write()?;
    let bar = progress(total_bytes(&a.input), "indexing");
    let mut check = ProfileCheck::new(&[]);
    // The process ends after this write: no snapshot of the new state is needed.
    let result = engine.index().write_stream_last(&a.delete, |sink| {
        feed(&a.input, a.delimiter, &bar, &mut check, sink)?;
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(format!("committing {} profiles", sink.added()));
        bar.enable_steady_tick(Duration::from_millis(200));
        Ok(())
    });
    bar.finish_and_clear();
    let s = match result {
        Ok(s) => s,
        Err(e) => {
            if created {
                // The index directory was made by this run for profiles that were refused.
                drop(engine);
                let _ = std::fs::remove_dir_all(&settings.index);
            }
            return Err(refused(e));
        }
    };
    eprintln!(
        "indexed {} profiles ({} new, {} replaced), deleted {}; {} now holds {} profiles",
        s.added + s.replaced,
        s.added,
        s.replaced,
        s.deleted,
        settings.index.display(),
        s.total
    );
    Ok(())
}

/// One streaming pass over the input files: every record is validated (ids given twice, in a
/// file or across files, are errors) and, while no problem has been found, handed to the
/// index writer. After the first problem the files are still read to report every problem (up
/// to a limit), but nothing more is written, and the error makes the caller roll back.
fn feed(
    files: &[PathBuf],
    delimiter: Option<u8>,
    bar: &ProgressBar,
    check: &mut ProfileCheck,
    sink: &mut ProfileSink,
) -> clustermatch::Result<()> {
    let mut failure: Option<Error> = None;
    for path in files {
        check.start_file(&path.display().to_string());
        let read = each_record(path, delimiter, bar, &mut |item| {
            match item {
                Ok(r) => {
                    let clean = check.errors() == 0;
                    if let Some((profile, _)) = check.check(&r) {
                        if clean && failure.is_none() {
                            if let Err(e) = sink.add(profile) {
                                failure = Some(e);
                                return false;
                            }
                        }
                    }
                }
                Err(d) => check.error(d),
            }
            !check.is_full()
        });
        match read {
            Ok(()) => {}
            Err(Error::Input(e)) => e.diagnostics.into_iter().for_each(|d| check.error(d)),
            Err(e) => return Err(e),
        }
        if let Some(e) = failure.take() {
            return Err(e);
        }
        check.end_file();
        if check.is_full() {
            break;
        }
    }
    let mut problems = ProfileCheck::new(&[]);
    std::mem::swap(check, &mut problems);
    problems.finish().map(|_| ())
}

/// Input problems get the count and the promise that nothing was stored.
fn refused(e: Error) -> anyhow::Error {
    match e {
        Error::Input(e) => {
            let n = e.diagnostics.len() + e.more;
            let what = if n == 1 {
                "1 problem".to_string()
            } else {
                format!("{n} problems")
            };
            anyhow::Error::from(Error::Input(e))
                .context(format!("{what} found; nothing was stored"))
        }
        e => e.into(),
    }
}

/// Streams the records of one file, counting the bytes read on the bar.
fn each_record(
    path: &Path,
    delimiter: Option<u8>,
    bar: &ProgressBar,
    f: &mut dyn FnMut(RecordItem) -> bool,
) -> clustermatch::Result<()> {
    let format = input::format_of(path)?;
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let reader = BufReader::with_capacity(256 << 10, bar.wrap_read(file));
    input::each_record_in(&path.display().to_string(), format, reader, delimiter, f)
}

fn total_bytes(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

/// A byte-count progress bar on stderr, hidden when stderr is not a terminal.
fn progress(total: u64, what: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{msg:9} [{wide_bar}] {binary_bytes}/{binary_total_bytes} eta {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what);
    bar
}
