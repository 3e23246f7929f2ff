//! The unit tests' allocator: the system's, counting the bytes each thread
//! holds, so that a test can measure what a structure keeps per item
//! exactly (allocation sizes do not depend on timing or on the machine's
//! load, unlike RSS). Per thread, so tests running side by side do not
//! count each other's allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static HELD: Cell<isize> = const { Cell::new(0) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn add(n: isize) {
    // Not during the thread's teardown (then nothing is measured).
    let _ = HELD.try_with(|h| h.set(h.get() + n));
}

fn count() {
    let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
}

// SAFETY: every call is passed to the system allocator unchanged; the
// counter is a const-initialised thread-local (it never allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        count();
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as isize));
        System.dealloc(ptr, layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        count();
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size as isize - layout.size() as isize);
        count();
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// The bytes this thread holds now (allocated minus freed).
pub fn held() -> isize {
    HELD.with(Cell::get)
}

/// The allocations (and reallocations) this thread has made so far: what
/// a piece of work costs the allocator, independent of timing.
pub fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}
