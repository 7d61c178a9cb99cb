//! The `clustermatch` binary: parses the command line and hands over to [`cli::run`].
//! Exit codes: 0 success, 2 bad input or usage, 1 any other failure; a closed pipe exits 0.

mod cli;

/// mimalloc: the build and the query path allocate many small strings and vectors; glibc's
/// allocator spent 10–15 % of an index build in `malloc`/`free` (`perf record`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    clustermatch::alloc::keep_freed_memory();
    std::process::exit(cli::main());
}
