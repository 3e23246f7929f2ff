//! The kubelet's restart back-off, as the real kubelet applies it
//! (`pkg/kubelet/kuberuntime`'s `doBackOff` over client-go's
//! `flowcontrol.Backoff`, 10 s initial and 5 min at most):
//!
//! - its key is the pod (name, namespace, uid) and the container (name and
//!   the hash of its spec), so a new pod or a changed container starts
//!   with no back-off;
//! - a container's first exit finds no entry under that key: it is
//!   started again at once, and only then is an entry made, at 10 s;
//! - a later exit waits that entry's delay, counted from the exit's
//!   `finishedAt` (CrashLoopBackOff meanwhile, "back-off 10s restarting
//!   failed container=…"), and the restart doubles it, at most 5 min: so
//!   the delays are 0, 10, 20, 40, 80, 160, 300, 300 … s;
//! - an exit more than 10 min (twice the maximum) after the last restart
//!   finds the entry expired: started at once, the entry back at 10 s.
//!
//! Our record keeps the delay waited before the latest restart (`backoff`,
//! 0 for one made at once) rather than the kubelet's entry, which is the
//! next delay; `next` turns one into the other.

/// The first delay, in seconds.
pub const INITIAL: u64 = 10;
/// The longest delay.
pub const MAX: u64 = 300;
/// Running longer than this (the kubelet: twice `MAX` since the last
/// restart) resets the back-off.
pub const RESET_AFTER: u64 = 2 * MAX;

/// The delay before the next start of a container that has just exited
/// after running `ran` seconds, `restarts` restarts having been made so
/// far, the latest after a delay of `last` seconds.
pub fn next(last: u64, ran: u64, restarts: u32) -> u64 {
    if restarts == 0 || ran > RESET_AFTER {
        0
    } else if last == 0 {
        INITIAL
    } else {
        (last * 2).min(MAX)
    }
}

/// When to try again a container whose start failed (its env could not be
/// made, or the runtime refused it), its back-off being `last`: the
/// kubelet's pod worker retries a failed sync after 10 s, and a failed
/// start is no exit, so it never counts as the first one.
pub fn after_failed_start(last: u64) -> u64 {
    last.max(INITIAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The delays of a container that exits after `ran` seconds each time.
    fn delays(exits: u32, ran: u64) -> Vec<u64> {
        let mut d = 0;
        (0..exits)
            .map(|restarts| {
                d = next(d, ran, restarts);
                d
            })
            .collect()
    }

    #[test]
    fn the_first_exit_restarts_at_once_then_the_delay_doubles_up_to_five_minutes() {
        assert_eq!(delays(8, 1), [0, 10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn running_over_ten_minutes_restarts_at_once_and_begins_again_at_ten_seconds() {
        assert_eq!(next(300, RESET_AFTER, 7), 300);
        assert_eq!(next(300, RESET_AFTER + 1, 7), 0);
        assert_eq!(next(0, 1, 8), INITIAL);
        assert_eq!(delays(3, RESET_AFTER + 1), [0, 0, 0]);
    }

    #[test]
    fn a_failed_start_is_tried_again_after_ten_seconds_or_the_back_off() {
        assert_eq!(after_failed_start(0), INITIAL);
        assert_eq!(after_failed_start(40), 40);
    }
}
