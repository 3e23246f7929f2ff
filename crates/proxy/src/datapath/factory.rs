//! The proxy's datapath drivers by mode. A child of `datapath` rather than
//! part of it: the drivers implement the trait there, so the trait's module
//! must not import them back.

use anyhow::{bail, Result};
use labyrinth_contracts::modes::Datapath as Mode;

use super::Datapath;
use crate::iptables::IptablesDatapath;
use crate::nftables::NftablesDatapath;

/// A driver for `mode`, owning nothing yet. The eBPF datapath is not the
/// proxy's: labyrinth-ebpf builds it (programs and maps) and hands it to
/// the `Proxier` itself.
pub fn build(mode: Mode) -> Result<Box<dyn Datapath>> {
    Ok(match mode {
        Mode::Iptables => Box::new(IptablesDatapath::new()),
        Mode::Nftables => Box::new(NftablesDatapath::new()),
        Mode::Ebpf => bail!("datapath {mode}: built by labyrinth-ebpf, not by the proxy"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_proxy_drivers_and_refuses_ebpf_by_name() {
        assert_eq!(build(Mode::Iptables).unwrap().name(), "iptables");
        assert_eq!(build(Mode::Nftables).unwrap().name(), "nftables");
        let err = build(Mode::Ebpf).err().expect("eBPF is not the proxy's");
        assert!(err.to_string().contains("datapath ebpf"), "{err}");
    }
}
