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

/* 2768 ports in the NodePort range, TCP and UDP, and some addresses. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lb4_nodeport_key);
	__type(value, struct lb4_nodeport);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lby_lb4_nodeport_v1 SEC(".maps");

/* Is (addr, port, proto) an external frontend? A reversed reply from
 * one leaves for a client outside the cluster. */
static __always_inline int external_frontend(__be32 addr, __be16 port, __u8 proto)
{
	struct lb4_nodeport_key k = { .address = addr, .port = port, .proto = proto };

	return bpf_map_lookup_elem(&lby_lb4_nodeport_v1, &k) != 0;
}

#endif
