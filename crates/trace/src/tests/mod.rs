//! Unit tests on synthetic packets (see `testutil`).

mod correlate;
mod decode;
mod filter;
mod picture;
mod present;
mod story;
