//! The journey tracer's engine: capture a flow at every hop of a lab
//! (`capture`), follow each packet across veths, NAT and VXLAN
//! (`correlate`), explain what happened to it (`explain`, pluggable
//! annotators), and present it as text, JSON, pcapng and HTML (`present`).

pub mod capture;
pub mod cli;
pub mod correlate;
pub mod decode;
pub mod explain;
pub mod journey;
pub mod model;
pub mod policy_cmd;
pub mod policy_log;
pub mod predict;
pub mod present;
pub mod run;
pub mod topology;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

pub use explain::{default_annotators, Annotator, Context};
pub use model::{Hop, Kind, Note, PacketTrace, Request, Trace};
pub use run::{trace, Action, Options, Outcome};
