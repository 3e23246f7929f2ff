//! A thin, synchronous rtnetlink layer in the style of netavark: a socket is
//! opened *inside* a network namespace once (on a short-lived thread that
//! `setns`es there) and then driven from the calling thread, so the host
//! process never has to move itself between namespaces.
//!
//! Every request carries a human description of what it was doing, and kernel
//! errors come back as [`Error::Kernel`] with that description and the errno.

mod addr;
mod error;
mod handle;
mod link;
mod neigh;
pub mod netns;
pub mod nflog;
pub mod process;
mod route;

pub use addr::Addr;
pub use error::{Error, Result};
pub use handle::Handle;
pub use link::{Link, LinkKind, VethSpec, VxlanSpec};
pub use neigh::Fdb;
pub use route::{Route, RouteDecision, RouteSpec, PROTO_STATIC};
