//! The interface every datapath driver implements (iptables and nftables
//! here, the eBPF datapath in labyrinth-ebpf), so the sync engine does not
//! care which one runs. `factory::build` makes the proxy's own drivers.

pub mod factory;

use std::collections::BTreeSet;

use anyhow::Result;

use crate::model::{ServiceModel, ServicePortName};

pub trait Datapath: Send {
    /// The mode's text form (`contracts::modes::Datapath::as_str`).
    fn name(&self) -> &'static str;

    /// Replace everything this driver owns with `model`, atomically.
    fn full_sync(&mut self, model: &ServiceModel) -> Result<()>;

    /// Rewrite only what `changed` service ports need, given that the last
    /// successful sync programmed the previous model. Drivers fall back to
    /// an error (never a half-applied state); the caller then full-syncs.
    fn partial_sync(&mut self, model: &ServiceModel, changed: &BTreeSet<ServicePortName>) -> Result<()>;

    /// List the kernel's rules and compare them with what was last
    /// programmed: `Some(reason)` when something was changed behind our back.
    fn check_drift(&mut self) -> Result<Option<String>>;

    /// Remove everything this driver owns.
    fn cleanup(&mut self) -> Result<()>;
}
