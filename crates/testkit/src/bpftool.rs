//! Listing the kernel's eBPF links with bpftool while other tests work.
//!
//! Links are global: `bpftool link show` in one node walks every link on
//! the machine. The kernel gives a link its id before the link is
//! settled and answers EAGAIN for it in between, and bpftool 7.1
//! (Debian 12's) stops the whole listing there ("can't get link by id
//! (N): Resource temporarily unavailable") rather than pass over it. So a
//! test listing its own node's links fails whenever another test on the
//! machine attaches a program at that moment: it did in CI once.

use std::time::Duration;

/// What bpftool prints when a link was not settled yet.
pub const UNSETTLED: &str = "Resource temporarily unavailable";

/// How often a listing is tried before its last answer is returned.
const TRIES: usize = 50;

/// Runs a bpftool listing (`run` gives whether it succeeded, and what it
/// printed) again while it fails only because a link elsewhere was not
/// settled yet: up to 50 tries, 20 ms apart. Returns the last answer, so
/// any other failure, or one that persists, reaches the caller unchanged.
pub fn listing(mut run: impl FnMut() -> (bool, String)) -> (bool, String) {
    let mut last = run();
    for _ in 1..TRIES {
        if last.0 || !last.1.contains(UNSETTLED) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        last = run();
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsettled_link_is_asked_again_until_the_listing_succeeds() {
        let mut calls = 0;
        let got = listing(|| {
            calls += 1;
            if calls < 3 {
                (
                    false,
                    format!("[{{\"error\":\"can't get link by id (5747): {UNSETTLED}\"}}]"),
                )
            } else {
                (true, "[]".into())
            }
        });
        assert_eq!(got, (true, "[]".to_string()));
        assert_eq!(calls, 3);
    }

    #[test]
    fn other_failures_are_returned_at_once() {
        let mut calls = 0;
        let got = listing(|| {
            calls += 1;
            (false, "Error: permission denied".into())
        });
        assert_eq!(got, (false, "Error: permission denied".to_string()));
        assert_eq!(calls, 1);
    }

    #[test]
    fn a_listing_that_stays_unsettled_ends_after_fifty_tries() {
        let mut calls = 0;
        let got = listing(|| {
            calls += 1;
            (false, UNSETTLED.into())
        });
        assert!(!got.0);
        assert_eq!(calls, TRIES);
    }
}
