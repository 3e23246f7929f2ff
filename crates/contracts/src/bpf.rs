//! The eBPF datapath's maps: their kernel layouts ([`abi`]), and the typed
//! rows ([`rows`]) that `labyrinth bpf map get <map> --json` prints and the
//! tracer reads back, so a prediction works with addresses and numbers, not
//! with the text of a table made for people.

pub mod abi;
mod nodeport_row;
pub mod policy;
pub mod rows;

use serde::{Deserialize, Serialize};

pub use nodeport_row::NodePortRow;
pub use rows::{
    BackendRow, ConfigRow, CtDir, CtRow, EndpointRow, FlowState, IpProto, IpcacheRow, RevNatRow, ServiceRow,
};

/// The maps `labyrinth bpf map get` reads, by the names its command line
/// takes (`services`, `ct`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum MapKind {
    Services,
    Backends,
    Revnat,
    Ct,
    Ipcache,
    Endpoints,
    Config,
    /// NetworkPolicy: which pods are isolated, and their allow rows.
    #[value(name = "pol-pods")]
    #[serde(rename = "pol-pods")]
    PolPods,
    #[value(name = "pol-rules")]
    #[serde(rename = "pol-rules")]
    PolRules,
    /// External frontends (NodePorts, LoadBalancer addresses) and their
    /// externalTrafficPolicy.
    Nodeport,
}

impl MapKind {
    pub const ALL: [MapKind; 10] = [
        MapKind::Services,
        MapKind::Backends,
        MapKind::Revnat,
        MapKind::Ct,
        MapKind::Ipcache,
        MapKind::Endpoints,
        MapKind::Config,
        MapKind::PolPods,
        MapKind::PolRules,
        MapKind::Nodeport,
    ];

    /// The pinned (versioned) map the rows come from.
    pub const fn map_name(self) -> &'static str {
        match self {
            MapKind::Services => abi::SERVICES_MAP,
            MapKind::Backends => abi::BACKENDS_MAP,
            MapKind::Revnat => abi::REVNAT_MAP,
            MapKind::Ct => abi::CT_MAP,
            MapKind::Ipcache => abi::IPCACHE_MAP,
            MapKind::Endpoints => abi::ENDPOINTS_MAP,
            MapKind::Config => abi::CONFIG_MAP,
            MapKind::PolPods => policy::POLICY_PODS_MAP,
            MapKind::PolRules => policy::POLICY_RULES_MAP,
            MapKind::Nodeport => abi::NODEPORT_MAP,
        }
    }

    /// The command line's name (`labyrinth bpf map get <this>`).
    pub const fn as_str(self) -> &'static str {
        match self {
            MapKind::Services => "services",
            MapKind::Backends => "backends",
            MapKind::Revnat => "revnat",
            MapKind::Ct => "ct",
            MapKind::Ipcache => "ipcache",
            MapKind::Endpoints => "endpoints",
            MapKind::Config => "config",
            MapKind::PolPods => "pol-pods",
            MapKind::PolRules => "pol-rules",
            MapKind::Nodeport => "nodeport",
        }
    }
}

impl std::fmt::Display for MapKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `labyrinth bpf map get <map> --json`: the pinned map's name and its rows
/// (`R` is the row type of that map, e.g. [`ServiceRow`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapDump<R> {
    pub map: String,
    pub entries: Vec<R>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn command_line_names_and_map_names() {
        for k in MapKind::ALL {
            let value = k.to_possible_value().unwrap();
            assert_eq!(value.get_name(), k.as_str());
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{k}\""));
            let (stem, version) = k.map_name().rsplit_once("_v").expect("a versioned name");
            assert!(stem.starts_with("lby_") && version.parse::<u32>().is_ok(), "{k}");
            assert!(
                !abi::RETIRED_MAPS.iter().any(|(old, _)| *old == k.map_name()),
                "{k} reads a retired map"
            );
        }
        assert_eq!(MapKind::Nodeport.map_name(), "lby_lb4_nodeport_v2");
        assert_eq!(MapKind::Ct.map_name(), "lby_ct4_v1");
    }
}
