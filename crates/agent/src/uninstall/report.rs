//! What `labyrinth uninstall` did, step by step: printed as it goes, the
//! failures counted for the exit status.

use anyhow::Result;

/// What each step did, printed as it goes.
#[derive(Default)]
pub struct Report {
    pub(super) failures: usize,
}

impl Report {
    /// `what` removed `thing`.
    pub fn removed(&mut self, what: &str, thing: &str) {
        println!("{what}: removed {thing}");
    }

    /// `what` could not be done; the steps after it still run.
    pub fn failed(&mut self, what: &str, e: &anyhow::Error) {
        self.failures += 1;
        eprintln!("{what}: FAILED: {e:#}");
    }

    /// A step's outcome: what it removed (or that there was nothing), or
    /// why it failed.
    pub fn step(&mut self, what: &str, outcome: Result<Vec<String>>) {
        match outcome {
            Ok(done) if done.is_empty() => println!("{what}: nothing to remove"),
            Ok(done) => done.iter().for_each(|d| self.removed(what, d)),
            Err(e) => self.failed(what, &e),
        }
    }
}
