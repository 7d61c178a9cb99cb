//! The `clustermatch` binary: parses the command line and hands over to [`cli::run`].
//! Exit codes: 0 success, 2 bad input or usage, 1 any other failure; a closed pipe exits 0.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
