//! Test namespaces made with holder processes (never `ip netns add`), and
//! running code or commands inside them. Everything is torn down on drop.
#![allow(dead_code)]

pub mod lab;
pub mod model;

/// Return from a root-only test where it may skip; fail it where root is
/// required (see `labyrinth_testkit::root`).
#[macro_export]
macro_rules! require_root {
    ($name:expr) => {
        if !labyrinth_testkit::root::require($name) {
            return;
        }
    };
}

/// Test namespaces (see `labyrinth_testkit::netns`).
pub use labyrinth_testkit::netns::Netns;
