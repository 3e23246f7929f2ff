/* Every map the programs share. Names carry the project prefix and a
 * layout version: a layout change gets a new name, so an agent upgrade
 * never reads old pinned entries with a new layout. All maps are pinned by
 * name under the loader's pin directory, so the three objects (one per
 * attach point) share one instance of each, and an agent restart finds
 * them again. The Rust mirror of every struct is src/abi.rs. */
#ifndef LBY_MAPS_H
#define LBY_MAPS_H

#include "common.h"

#define LIBBPF_PIN_BY_NAME 1

/* ---- services: (ClusterIP, port, proto, slot) -> frontend or backend slot */
struct lb4_key {
	__be32 address;
	__be16 dport;
	__u16 slot; /* 0: the frontend; 1..count: backend slots */
	__u8 proto;
	__u8 pad[3];
};

struct lb4_service {
	__u32 backend_id;	/* slots 1..n: which backend */
	__u16 count;		/* slot 0: how many backend slots follow */
	__u16 rev_nat_index;	/* the service's id, for reverse NAT and names */
};

struct lb4_backend {
	__be32 address;
	__be16 port;
	__u8 proto;
	__u8 flags;
};

struct lb4_reverse_nat {
	__be32 address;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

/* Userspace only: "namespace/name:port" per service id, so `observe` and
 * `map get` in another process can name services. */
struct lb4_name {
	char name[64];
};

/* ---- conntrack: one entry per direction of a translated flow */
#define CT_DIR_SERVICE 0 /* client -> ClusterIP:port, as the client sent it */
#define CT_DIR_REPLY 1	 /* backend -> client (after DNAT/SNAT): reverse it */

#define CT_F_HAIRPIN 1 /* client is its own backend: source was rewritten */
/* Source rewritten to the service entry's orig_addr (a NodePort with
 * externalTrafficPolicy Cluster: the node's address, so replies return
 * through this node to be reversed). */
#define CT_F_SNAT 2
/* Set on a reply entry once an answer passed through it: when its backend
 * starts terminating, the agent drains the answered flows and keeps those
 * still waiting for their answer. */
#define CT_F_ANSWERED 4

struct ct4_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 dir;
	__u16 pad;
};

struct ct4_entry {
	__be32 backend_addr;	/* service dir: where the flow was sent */
	__be16 backend_port;
	__u16 rev_nat_index;
	__u32 backend_id;
	__be32 orig_addr;	/* reply dir + hairpin/SNAT: the real client;
				 * service dir + SNAT: the source it got */
	__u8 flags;
	__u8 tcp_seen;		/* TCP flags seen in this direction (CT_TCP_TRACKED) */
	__u8 pad[2];
	__u32 pad2;
	__u64 last_seen_ns;	/* refreshed at most every CT_TOUCH_NS */
};

/* ---- ipcache: pod IP / CIDR -> the node it lives on */
struct ipcache_key {
	__u32 prefixlen;
	__be32 addr;
};

struct ipcache_value {
	__be32 tunnel_endpoint; /* node underlay IP; 0 = this node */
	__u32 identity;
	__u8 flags;
	__u8 pad[3];
};

/* ---- endpoints: pods on this node */
struct endpoint_value {
	__u32 ifindex;		/* host-side veth */
	__u8 pod_mac[6];	/* the pod's eth0 */
	__u8 node_mac[6];	/* the host-side veth */
	__u32 flags;
};

/* ---- node configuration, written by the loader (array, one entry) */
#define ROUTING_TUNNEL 0
#define ROUTING_NATIVE 1

/* How a packet enters a pod on this node (lby_config.delivery). */
#define DELIVERY_HOST_VETH 0	 /* bpf_redirect to the host veth's egress */
#define DELIVERY_PEER_REDIRECT 1 /* bpf_redirect_peer into the pod's eth0 */

#define TRACE_DROPS 0 /* only drops */
#define TRACE_FLOWS 1 /* drops, new translations, TCP SYN/FIN/RST */
#define TRACE_ALL 2   /* every packet at every point */

struct lby_config {
	__u32 tunnel_ifindex;
	__u32 vni;
	__be32 node_ip;
	__be32 hairpin_ip; /* source for a pod reaching itself via a service */
	__u8 routing;
	__u8 trace_level;
	__u8 delivery; /* DELIVERY_*; 0 in configs written before the field */
	__u8 pad;
};

_Static_assert(sizeof(struct lb4_key) == 12, "lb4_key layout");
_Static_assert(sizeof(struct lb4_service) == 8, "lb4_service layout");
_Static_assert(sizeof(struct lb4_backend) == 8, "lb4_backend layout");
_Static_assert(sizeof(struct ct4_key) == 16, "ct4_key layout");
_Static_assert(sizeof(struct ct4_entry) == 32, "ct4_entry layout");
_Static_assert(sizeof(struct endpoint_value) == 20, "endpoint layout");
_Static_assert(sizeof(struct lby_config) == 20, "config layout");

/* Written only by the agent; no preallocation keeps idle nodes small. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lb4_key);
	__type(value, struct lb4_service);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lby_lb4_services_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct lb4_backend);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lby_lb4_backends_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u16);
	__type(value, struct lb4_reverse_nat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lby_lb4_reverse_nat_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u16);
	__type(value, struct lb4_name);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lby_lb4_names_v1 SEC(".maps");

/* LRU: a node never fills up even between the agent's garbage
 * collections, which expire flows by their TCP state and idle time. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct ct4_key);
	__type(value, struct ct4_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lby_ct4_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ipcache_key);
	__type(value, struct ipcache_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lby_ipcache_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __be32);
	__type(value, struct endpoint_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lby_endpoints_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lby_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lby_config_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lby_events SEC(".maps");

static __always_inline struct lby_config *config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&lby_config_v1, &zero);
}

#endif
