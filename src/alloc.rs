//! Settings of the memory allocator that the `clustermatch` binary (and its benches) use,
//! [mimalloc](https://github.com/microsoft/mimalloc). The library itself allocates through
//! whatever global allocator the program chose; these settings only matter under mimalloc.

use libmimalloc_sys::{mi_option_set, mi_option_t};

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (`mimalloc.h`; the crate names no
/// constant for it).
const PURGE_DELAY: mi_option_t = 15;

/// Keeps freed memory in the process for reuse instead of handing it back to the system after
/// a delay (mimalloc's default, one second).
///
/// A cold snapshot decodes posting lists query after query; with memory handed back, pages freed
/// between queries were faulted in and zeroed again, which put 12 % of a million-profile run in
/// the kernel and the 99th percentile often at 18–19 ms instead of 12–14 ms. Memory then stays
/// at its high-water mark, as it would under most allocators.
pub fn keep_freed_memory() {
    // SAFETY: `mi_option_set` stores one integer in mimalloc's option table (an atomic store);
    // it has no precondition on the caller, and 15 is a valid option number.
    unsafe { mi_option_set(PURGE_DELAY, -1) }
}
