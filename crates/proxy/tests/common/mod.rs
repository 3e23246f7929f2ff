//! Test namespaces made with holder processes (never `ip netns add`), and
//! running code or commands inside them. Everything is torn down on drop.
#![allow(dead_code)]

pub mod lab;
pub mod model;

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[macro_export]
macro_rules! require_root {
    ($name:expr) => {
        if !common::is_root() {
            eprintln!("SKIPPED (needs root): {}", $name);
            return;
        }
    };
}

/// Test namespaces (see `labyrinth_testkit::netns`).
pub use labyrinth_testkit::netns::Netns;
