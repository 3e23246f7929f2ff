//! Per-step progress on a terminal; silence when not attached to one
//! (the summary at the end is printed either way, by `lab up`).

use std::io::IsTerminal;

pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub fn new(steps: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(steps);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} [{pos}/{len}] {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Progress { bar }
    }

    pub fn step(&self, msg: &str) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(msg.to_string());
        }
    }

    /// Clear the bar; what was made is `lab up`'s summary on stdout.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
