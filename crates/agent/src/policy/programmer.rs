//! A datapath's policy rendering, as the sync thread drives it, and the
//! kernel renderings of labyrinth-proxy behind it.

use anyhow::Result;
use labyrinth_policy::Compiled;
use labyrinth_proxy::netpol::{Load, PolicyIptables, PolicyNftables};

/// A datapath's policy rendering, as the sync thread drives it.
pub trait Programmer: Send {
    fn name(&self) -> &'static str;
    /// Program `c`; `full`: rewrite all of it rather than what changed
    /// since the last sync (the periodic resync, which also mends state
    /// changed by hand). Returns how, for the log.
    fn sync(&mut self, c: &Compiled, full: bool) -> Result<&'static str>;
}

impl Programmer for PolicyIptables {
    fn name(&self) -> &'static str {
        "iptables"
    }
    fn sync(&mut self, c: &Compiled, full: bool) -> Result<&'static str> {
        Ok(match PolicyIptables::sync(self, c, full)? {
            Load::Full => "every chain",
            Load::Incremental => "the changed chains",
            Load::Unchanged => "nothing changed",
        })
    }
}

impl Programmer for PolicyNftables {
    fn name(&self) -> &'static str {
        "nftables"
    }
    fn sync(&mut self, c: &Compiled, full: bool) -> Result<&'static str> {
        Ok(match PolicyNftables::sync(self, c, full)? {
            Load::Full => "the whole table",
            Load::Incremental => "the changed objects",
            Load::Unchanged => "nothing changed",
        })
    }
}
