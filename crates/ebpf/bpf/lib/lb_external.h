/* The external frontends' map (bpf/lib/lb_nodeport.h uses it): which
 * (address, port, proto) are reached from outside the cluster (a
 * NodePort on the node's address, a LoadBalancer address on the
 * Service's port) and with which externalTrafficPolicy. Apart from
 * lb_nodeport.h so delivery (deliver.h) can ask whether a reversed
 * reply's source is one of them without a header cycle. */
#ifndef LBY_LB_EXTERNAL_H
#define LBY_LB_EXTERNAL_H

#include "maps.h"

struct lb4_nodeport_key {
	__be32 address;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

#define NP_F_LOCAL 1 /* externalTrafficPolicy Local */

struct lb4_nodeport {
	__u16 rev_nat_index; /* the NodePort frontend's service id */
	__u8 flags;	     /* NP_F_* */
	__u8 pad;
};

_Static_assert(sizeof(struct lb4_nodeport_key) == 8, "nodeport key layout");
_Static_assert(sizeof(struct lb4_nodeport) == 4, "nodeport layout");

/* One row per NodePort and per LoadBalancer address, each a frontend
 * with its own service id: sized to the 16-bit id space (65,535), so the
 * ids run out before this map does. kube-proxy's envelope of 10,000
 * Services, each with a NodePort and a LoadBalancer address, is 20,000
 * rows (the 8,192 of _v1 could not hold it). No preallocation: memory
 * follows the rows in use (about 100 bytes each with the kernel's
 * element header), not max_entries. A new size is a new name: the agent
 * removes the pins of retired names (contracts' RETIRED_MAPS). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lb4_nodeport_key);
	__type(value, struct lb4_nodeport);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lby_lb4_nodeport_v2 SEC(".maps");

/* The external frontend (addr, port, proto), or NULL. */
static __always_inline struct lb4_nodeport *nodeport_lookup(__be32 addr, __be16 port, __u8 proto)
{
	struct lb4_nodeport_key k = { .address = addr, .port = port, .proto = proto };

	return bpf_map_lookup_elem(&lby_lb4_nodeport_v2, &k);
}

/* Is (addr, port, proto) an external frontend? A reversed reply from
 * one leaves for a client outside the cluster. */
static __always_inline int external_frontend(__be32 addr, __be16 port, __u8 proto)
{
	return nodeport_lookup(addr, port, proto) != 0;
}

#endif
