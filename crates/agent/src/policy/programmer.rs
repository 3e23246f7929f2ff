//! A datapath's policy rendering, as the sync thread drives it, and the
//! kernel renderings of labyrinth-proxy behind it.

use anyhow::Result;
use labyrinth_policy::Compiled;
use labyrinth_proxy::netpol::{PolicyIptables, PolicyNftables};

/// A datapath's policy rendering, as the sync thread drives it.
pub trait Programmer: Send {
    fn name(&self) -> &'static str;
    fn sync(&mut self, c: &Compiled) -> Result<()>;
}

impl Programmer for PolicyIptables {
    fn name(&self) -> &'static str {
        "iptables"
    }
    fn sync(&mut self, c: &Compiled) -> Result<()> {
        PolicyIptables::sync(self, c)
    }
}

impl Programmer for PolicyNftables {
    fn name(&self) -> &'static str {
        "nftables"
    }
    fn sync(&mut self, c: &Compiled) -> Result<()> {
        PolicyNftables::sync(self, c)
    }
}
