/* NodePort: a connection from the network to this node's own address on
 * a NodePort. The NodePort is one more frontend in lby_lb4_services_v1,
 * keyed by (node address, nodePort, proto), so backend choice, affinity
 * and conntrack are the ClusterIP's. This map says which frontends are
 * reached from outside (the NodePorts on the node's address; a
 * LoadBalancer address would be one more row) and their
 * externalTrafficPolicy: Cluster masquerades to the
 * node's address (the backend may be on another node, whose reply must
 * come back here to be reversed); Local keeps the client's address, and
 * the frontend holds only this node's endpoints, so a node without one
 * drops new connections (the load balancer's health check sends clients
 * elsewhere), as kube-proxy does. */
#ifndef LBY_LB_NODEPORT_H
#define LBY_LB_NODEPORT_H

#include "maps.h"
#include "lb.h"
#include "reject.h"
#include "deliver.h"
#include "lb_external.h"

#define NP_NOT_NODEPORT -1

/* A packet from the network: NP_NOT_NODEPORT, or the verdict for a
 * NodePort connection (translated and forwarded, refused, dropped). */
static __always_inline int nodeport(struct __sk_buff *skb, struct pkt *p,
				    const struct lby_config *cfg, struct xlate *x)
{
	struct lb4_nodeport *np;
	__be32 snat;
	int r;

	if (!cfg)
		return NP_NOT_NODEPORT;
	np = nodeport_lookup(p->daddr, p->dport, p->proto);
	if (!np)
		return NP_NOT_NODEPORT;
	snat = (np->flags & NP_F_LOCAL) ? 0 : cfg->node_ip;
	r = lb4_translate(skb, p, cfg, x, snat);
	switch (r) {
	case LB_TRANSLATED:
		return forward_from_endpoint(skb, p, cfg, x);
	case LB_NO_BACKENDS:
		trace(skb, cfg, p, x, POINT_DROP, DROP_NO_BACKENDS);
		/* Local without a local endpoint: silence, as kube-proxy's
		 * drop; Cluster without any endpoint: refused. */
		if (np->flags & NP_F_LOCAL)
			return TC_ACT_SHOT;
		return reject(skb, p);
	case LB_NOT_SERVICE:
		/* The NodePort row came before its frontend (or outlived it):
		 * the stack answers as for any closed port. */
		return NP_NOT_NODEPORT;
	case LB_BACKEND_MISSING:
		trace(skb, cfg, p, x, POINT_DROP, DROP_BACKEND_MISSING);
		return TC_ACT_SHOT;
	default:
		trace(skb, cfg, p, x, POINT_DROP, DROP_NAT_FAILED);
		return TC_ACT_SHOT;
	}
}

#endif
