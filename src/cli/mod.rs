//! The command-line interface: clap definitions (raw arguments), their resolution into settings
//! (flags > `CLUSTERMATCH_*` environment > config file > defaults), and one function per command.

mod args;
mod batch;
mod commands;
mod index_cmd;
mod serve;

use std::io::Write;

use clap::Parser;

pub use args::Cli;

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match commands::run(cli) {
        Ok(()) => 0,
        Err(e) => report(&e),
    }
}

fn report(e: &anyhow::Error) -> i32 {
    if e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    }) {
        return 0;
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {e}");
    for cause in e.chain().skip(1) {
        for line in cause.to_string().lines() {
            let _ = writeln!(err, "  {line}");
        }
    }
    let user = e.chain().any(|c| {
        c.downcast_ref::<clustermatch::Error>()
            .is_some_and(|e| e.is_user_error())
    }) || e
        .chain()
        .any(|c| c.downcast_ref::<commands::UsageError>().is_some());
    if user {
        2
    } else {
        1
    }
}
