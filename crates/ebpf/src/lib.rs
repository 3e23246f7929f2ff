//! Labyrinth's eBPF datapath (Cilium's role): tc programs written in C
//! (bpf/), built by clang at compile time and loaded with aya.
//!
//! - `from_container` on each pod's host veth ingress, and on `lby_net` for
//!   the node's own connections to Services: Service translation with
//!   conntrack and reverse NAT, then redirect into a local pod (out of its
//!   host veth by default, or bpf_redirect_peer past it: `PodDelivery`),
//!   into the VXLAN device with a tunnel key, or by a FIB lookup (native
//!   routing).
//! - `to_container` on each pod's host veth egress: reverses the replies
//!   of Service flows whose backend is the node itself, which the node's
//!   stack routes straight into the pod.
//! - `from_overlay` / `to_overlay` on the tunnel device's ingress / egress;
//!   in native routing `from_overlay` sits on the underlay device's ingress.
//! - Maps pinned under a bpffs directory (`lby_*_v1`), trace events on the
//!   `lby_events` ring buffer.
//!
//! The agent opens an [`EbpfDatapath`] in the node's namespace, attaches
//! each pod after CNI ADD, keeps the ipcache equal to the other nodes' pod
//! CIDRs, and hands it to a `labyrinth_proxy::Proxier` as its Datapath.
/// The map layouts and names, shared with everyone who reads the maps.
pub use labyrinth_contracts::bpf::abi;
/// The policy maps' layouts and names (bpf/lib/policy.h).
pub use labyrinth_contracts::bpf::policy as policy_abi;
pub mod attach;
pub mod cli;
pub mod ct_gc;
pub mod datapath;
pub mod dump;
pub mod events;
pub mod lb_compile;
pub mod lb_drain;
pub mod lb_plan;
pub mod lb_sync;
#[cfg(test)]
mod lb_tests;
pub mod leftovers;
pub mod loader;
pub mod maps;
pub mod nodeport_dump;
pub mod policy_dump;
pub mod policy_maps;
pub mod policy_names;
pub mod policy_rows;
pub mod retired;

pub use attach::AttachMode;
pub use datapath::{Config, EbpfDatapath, PodDelivery, PodEndpoint, Routing, TraceLevel, DEFAULT_PIN_DIR};
pub use dump::dump;
pub use events::{EventReader, Flow};
pub use labyrinth_contracts::bpf::MapKind;
pub use lb_sync::SharedDatapath;
