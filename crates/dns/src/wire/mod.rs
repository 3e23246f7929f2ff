//! DNS wire format: the allocation-free query parser, the response
//! assembler that splices precompiled answers, and a naive hickory-based
//! path kept as the benchmark baseline.

pub mod encode;
pub mod naive;
pub mod query;
pub mod respond;

#[cfg(test)]
mod tests;

pub use respond::{respond, Outcome, Transport};
