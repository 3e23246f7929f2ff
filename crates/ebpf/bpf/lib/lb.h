/* Service load balancing: find the ClusterIP:port frontend, pick a
 * backend (random for a new flow, the recorded one for a known flow) and
 * DNAT to it, recording both directions in conntrack. */
#ifndef LBY_LB_H
#define LBY_LB_H

#include "maps.h"
#include "csum_nat.h"
#include "ct.h"
#include "trace.h"
#include "lb_affinity.h"

#define LB_NOT_SERVICE 0
#define LB_TRANSLATED 1
#define LB_NO_BACKENDS 2
#define LB_BACKEND_MISSING 3
#define LB_NAT_FAILED 4

/* Pick a backend slot for a new flow and record the flow. */
static __always_inline int lb4_new_flow(const struct pkt *p, const struct lby_config *cfg,
					struct lb4_key *key, const struct lb4_service *svc,
					struct ct4_entry *fwd, __be32 snat_addr)
{
	struct lb4_service *slot;
	struct lb4_backend *be;

	/* Slots 1..count hold the backends: the client's by affinity, or
	 * uniform over them. */
	key->slot = affinity_slot(p, svc, key);
	if (!key->slot)
		key->slot = (bpf_get_prandom_u32() % svc->count) + 1;
	slot = bpf_map_lookup_elem(&lby_lb4_services_v1, key);
	if (!slot)
		return LB_BACKEND_MISSING;
	affinity_remember(p, svc, key->slot, slot->backend_id);
	be = bpf_map_lookup_elem(&lby_lb4_backends_v1, &slot->backend_id);
	if (!be)
		return LB_BACKEND_MISSING;
	__builtin_memset(fwd, 0, sizeof(*fwd));
	fwd->backend_addr = be->address;
	fwd->backend_port = be->port;
	fwd->backend_id = slot->backend_id;
	fwd->rev_nat_index = svc->rev_nat_index;
	/* A pod reaching itself through its own service: the reply must not
	 * carry its own address as destination back into it (the kernel
	 * would take it for a spoofed local source), so its source becomes
	 * the node's hairpin address and is restored on the way back. */
	if (be->address == p->saddr) {
		fwd->flags |= CT_F_HAIRPIN;
	} else if (snat_addr) {
		fwd->flags |= CT_F_SNAT;
		fwd->orig_addr = snat_addr;
	}
	if (ct_create(p, cfg, fwd) < 0)
		return LB_NAT_FAILED;
	return LB_TRANSLATED;
}

/* The service part of from_container (and of a NodePort arriving from
 * the network, lb_nodeport.h): LB_NOT_SERVICE, LB_TRANSLATED (the packet
 * now goes to the backend), or why it cannot be translated. A new flow
 * with snat_addr set gets that source address (masquerade). */
static __always_inline int lb4_translate(struct __sk_buff *skb, struct pkt *p,
					 const struct lby_config *cfg, struct xlate *x,
					 __be32 snat_addr)
{
	struct lb4_key key = {};
	struct lb4_service *svc;
	struct ct4_entry fwd, *known;
	int r;

	key.address = p->daddr;
	key.dport = p->dport;
	key.proto = p->proto;
	svc = bpf_map_lookup_elem(&lby_lb4_services_v1, &key);
	if (!svc)
		return LB_NOT_SERVICE;
	x->orig_daddr = p->daddr;
	x->orig_dport = p->dport;
	x->rev_nat_index = svc->rev_nat_index;
	if (svc->count == 0)
		return LB_NO_BACKENDS;

	known = ct_lookup_service(p);
	if (known && known->rev_nat_index == svc->rev_nat_index && !ct_reopened(p, cfg, known)) {
		/* Sticky: an established flow keeps its backend, even one that
		 * has since left the service (as kube-proxy's conntrack does). */
		ct_touch(known, p);
		fwd = *known;
	} else {
		r = lb4_new_flow(p, cfg, &key, svc, &fwd, snat_addr);
		if (r != LB_TRANSLATED)
			return r;
		x->new_flow = 1;
	}
	x->kind = XLATE_DNAT;
	if (nat_addr(skb, p, 1, fwd.backend_addr) < 0 || nat_port(skb, p, 1, fwd.backend_port) < 0)
		return LB_NAT_FAILED;
	if ((fwd.flags & CT_F_HAIRPIN) && cfg && nat_addr(skb, p, 0, cfg->hairpin_ip) < 0)
		return LB_NAT_FAILED;
	if ((fwd.flags & CT_F_SNAT) && nat_addr(skb, p, 0, fwd.orig_addr) < 0)
		return LB_NAT_FAILED;
	return LB_TRANSLATED;
}

#endif
