//! Unit tests on synthetic packets (see `testutil`).

mod correlate;
mod decode;
mod filter;
mod present;
