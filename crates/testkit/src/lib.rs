//! Dev-only: what tests and benchmarks of several crates share. Never a
//! normal dependency of a shipped crate.

pub mod bpftool;
pub mod jwt;
pub mod modgraph;
pub mod netns;
pub mod rng;
pub mod root;
