//! The CNI protocol itself, independent of what the plugin does: versions,
//! the environment, result and error types, and the dispatcher.

pub mod dispatch;
pub mod env;
pub mod error;
pub mod types;
pub mod version;

pub use dispatch::{dispatch, Outcome, Plugin, Request};
pub use env::{Command, Env};
pub use error::{code, CniError};
pub use types::{CniResult, Interface, IpConfig, Route};
pub use version::{Version, LATEST, SUPPORTED};
