//! The kubelet's restart back-off: a container that exits waits 10 s before
//! its next start, twice as long after each further exit, at most 5 min;
//! one that ran 10 min before exiting starts the count again.

/// The first delay, in seconds.
pub const INITIAL: u64 = 10;
/// The longest delay.
pub const MAX: u64 = 300;
/// Running this long resets the back-off.
pub const RESET_AFTER: u64 = 600;

/// The delay before the next start of a container that ran `ran` seconds,
/// the previous delay having been `last` (0: none yet).
pub fn next(last: u64, ran: u64) -> u64 {
    if last == 0 || ran >= RESET_AFTER {
        INITIAL
    } else {
        (last * 2).min(MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_five_minutes_and_resets_after_ten_of_running() {
        let mut d = 0;
        let seen: Vec<u64> = (0..7)
            .map(|_| {
                d = next(d, 1);
                d
            })
            .collect();
        assert_eq!(seen, [10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(next(300, RESET_AFTER - 1), 300);
        assert_eq!(next(300, RESET_AFTER), INITIAL);
    }
}
