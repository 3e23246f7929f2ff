//! The CNI protocol itself, independent of what the plugin does: versions,
//! the environment, result and error types, and the dispatcher.

pub mod dispatch;
pub mod env;
pub mod error;

pub use dispatch::{dispatch, Outcome, Plugin, Request};
pub use env::{Command, Env};
pub use error::{code, CniError};
// The result and version types are the CNI contract between the plugin
// and its callers, defined in labyrinth-contracts.
pub use labyrinth_contracts::cni::{CniResult, Dns, Interface, IpConfig, Route, Version, LATEST, SUPPORTED};
