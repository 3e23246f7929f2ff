//! `--datapath`: which datapath programs the node's Services. The
//! datapaths are the cluster's (labyrinth-contracts' `Datapath`, as the
//! lab file names them); the agent alone adds `none`, for a node whose
//! Services someone else programs. The flag's words are the same as ever:
//! `iptables`, `nftables`, `ebpf`, `none`.

use clap::builder::PossibleValue;
use labyrinth_contracts::modes::Datapath;

/// One of the cluster's datapaths, or `None` for `--datapath none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyMode(pub Option<Datapath>);

impl ProxyMode {
    pub const NONE: ProxyMode = ProxyMode(None);

    pub fn datapath(self) -> Option<Datapath> {
        self.0
    }

    /// Whether this is `datapath`.
    pub fn is(self, datapath: Datapath) -> bool {
        self.0 == Some(datapath)
    }
}

impl clap::ValueEnum for ProxyMode {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            ProxyMode(Some(Datapath::Iptables)),
            ProxyMode(Some(Datapath::Nftables)),
            ProxyMode(Some(Datapath::Ebpf)),
            ProxyMode::NONE,
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0.map_or("none", Datapath::as_str)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn the_flag_takes_the_datapaths_words_and_none() {
        let parse = |s| ProxyMode::from_str(s, false);
        assert_eq!(parse("iptables"), Ok(ProxyMode(Some(Datapath::Iptables))));
        assert_eq!(parse("nftables"), Ok(ProxyMode(Some(Datapath::Nftables))));
        assert_eq!(parse("ebpf"), Ok(ProxyMode(Some(Datapath::Ebpf))));
        assert_eq!(parse("none"), Ok(ProxyMode::NONE));
        assert!(parse("ipvs").is_err());
        assert!(ProxyMode(Some(Datapath::Ebpf)).is(Datapath::Ebpf));
        assert!(!ProxyMode::NONE.is(Datapath::Ebpf));
    }
}
