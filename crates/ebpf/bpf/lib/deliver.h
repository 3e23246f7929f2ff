/* Where a packet goes after translation: into a local pod,
 * into the tunnel, out a native route, or up the node's own stack. */
#ifndef LBY_DELIVER_H
#define LBY_DELIVER_H

#include "maps.h"
#include "csum_nat.h"
#include "encap.h"
#include "trace.h"
#include "policy.h"
#include "lb_external.h"

/* Into a pod on this node: rewrite the MACs as a router would (from the
 * host-side veth to the pod), then by default out of the pod's host veth
 * (bpf_redirect to its egress): the packet crosses the veth pair as a
 * routed one would, so taps on the host veth (tcpdump -i lxc...) see
 * deliveries as well as what the pod sends. With peer redirect, straight
 * into the veth's peer inside the pod's namespace instead
 * (bpf_redirect_peer), skipping the host veth and the backlog queue behind
 * it: faster, invisible on the host veth. Both callers run at ingress,
 * the only place bpf_redirect_peer works. */
static __always_inline int to_endpoint(struct __sk_buff *skb, const struct pkt *p,
				       const struct lby_config *cfg, const struct xlate *x,
				       const struct endpoint_value *ep)
{
	__u32 ifindex = ep->ifindex;

	if (!policy_judge(skb, p, cfg, x, POL_DIR_INGRESS))
		return TC_ACT_SHOT;
	if (set_macs(skb, ep->node_mac, ep->pod_mac) < 0) {
		trace(skb, cfg, p, x, POINT_DROP, DROP_NAT_FAILED);
		return TC_ACT_SHOT;
	}
	trace(skb, cfg, p, x, POINT_TO_ENDPOINT, 0);
	if (cfg && cfg->delivery == DELIVERY_PEER_REDIRECT)
		return bpf_redirect_peer(ifindex, 0);
	return bpf_redirect(ifindex, 0);
}

/* The forwarding decision for a packet that left a local pod. */
static __always_inline int forward_from_endpoint(struct __sk_buff *skb, const struct pkt *p,
						 const struct lby_config *cfg,
						 const struct xlate *x)
{
	struct endpoint_value *ep;
	struct ipcache_value *ic;

	ep = bpf_map_lookup_elem(&lby_endpoints_v1, &p->daddr);
	if (ep)
		return to_endpoint(skb, p, cfg, x, ep);
	ic = ipcache_lookup(p->daddr);
	if (cfg && ic && ic->tunnel_endpoint) {
		if (cfg->routing == ROUTING_TUNNEL)
			return to_overlay(skb, p, cfg, x, ic);
		return to_network(skb, p, cfg, x);
	}
	/* A reply leaving the cluster (a NodePort's or LoadBalancer's
	 * client): its source is now the node's own address (or one it
	 * answers for), which the stack would drop as a martian coming in
	 * from a device, so it goes out by the FIB. */
	if (cfg && x && x->kind == XLATE_REVNAT && external_frontend(p->saddr, p->sport, p->proto))
		return to_network(skb, p, cfg, x);
	/* The node itself, or outside the cluster: the kernel routes it. */
	trace(skb, cfg, p, x, POINT_TO_STACK, 0);
	return TC_ACT_OK;
}

#endif
