//! The checks behind Labyrinth's fuzz targets, one module per parser that
//! faces untrusted input. Each `check(data)` takes the raw bytes a fuzzer
//! made, feeds them through the real parser and panics (which the fuzzer
//! reports as a crash, with the input saved) when a property fails:
//!
//! - [`dns_wire`]: a UDP or TCP DNS message → the server's answer, which
//!   must itself be a well-formed DNS response to that query;
//! - [`cni_invocation`]: CNI_* variables + the stdin config → the
//!   dispatcher's result, or a CNI error JSON with a well-known code;
//! - [`apiserver_body`]: a request body + its content type → the object the
//!   API server would store, or a Kubernetes Status error;
//! - [`lab_file`]: a lab file → a config, or an error naming the field.
//!
//! Nothing here depends on the fuzzing engine: `fuzz_targets/*.rs` are
//! one-line libFuzzer entry points, and any other driver (a test replaying
//! a corpus, another engine) can call the same functions.

pub mod apiserver_body;
pub mod cni_invocation;
pub mod dns_wire;
pub mod lab_file;

/// Splits `data` at its first newline: a short header line that selects
/// what to call (a transport, a content type, a command), and the payload.
/// Keeps the seed files readable and lets the fuzzer mutate both parts.
pub(crate) fn split_header(data: &[u8]) -> Option<(&str, &[u8])> {
    let nl = data.iter().position(|&b| b == b'\n')?;
    let head = std::str::from_utf8(&data[..nl]).ok()?;
    Some((head.trim(), &data[nl + 1..]))
}
