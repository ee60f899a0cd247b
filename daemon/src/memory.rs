//! How the process's allocator gives memory back. glibc serves a large
//! block from a thread's heap once a block that size has been freed (its
//! mmap threshold rises up to 32 MiB), and a heap keeps what it grew to:
//! after decoding photos on several worker threads at once, each thread's
//! heap would keep its peak, and the decode budget would bound what is in
//! use but not what the process holds. A fixed threshold keeps every block
//! of 1 MiB or more (image buffers) mapped apart, and unmapped when freed.

/// Blocks of this many bytes or more get pages of their own.
const OWN_PAGES_FROM_BYTES: libc::c_int = 1 << 20;

/// Sets the threshold, before the threads that decode images start.
pub fn return_large_blocks_when_freed() {
    // SAFETY: mallopt only sets an allocator parameter; it is called before
    // the worker threads start.
    let set = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, OWN_PAGES_FROM_BYTES) };
    if set != 1 {
        log::warn!("cannot set the allocator's mmap threshold; memory freed may stay held");
    }
}
