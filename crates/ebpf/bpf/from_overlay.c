/* Attached to the ingress of the tunnel device: packets from other nodes,
 * already decapsulated. Replies of flows this node translated are reversed
 * here (the backend was on the other node), then the packet goes straight
 * into its pod. The same program sits on the underlay device's ingress
 * (in native routing replies arrive there unencapsulated, and in both
 * modes connections from outside the cluster to a NodePort arrive there:
 * lib/lb_nodeport.h). */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/trace.h"
#include "lib/ct.h"
#include "lib/icmp_err.h"
#include "lib/deliver.h"
#include "lib/lb_nodeport.h"

SEC("classifier")
int lby_from_overlay(struct __sk_buff *skb)
{
	struct lby_config *cfg = config();
	struct endpoint_value *ep;
	struct xlate x = {};
	struct pkt p = {};
	int tunnel, r;
	__u8 from;

	if (parse_ipv4(skb, &p) < 0)
		return TC_ACT_OK;
	tunnel = cfg && skb->ifindex == cfg->tunnel_ifindex;
	from = tunnel ? POINT_FROM_OVERLAY : POINT_FROM_NETWORK;
	trace(skb, cfg, &p, 0, from, 0);
	if (ct_reverse_icmp(skb, &p, &x) < 0) {
		trace(skb, cfg, &p, &x, POINT_DROP, DROP_NAT_FAILED);
		return TC_ACT_SHOT;
	}
	if (p.has_ports) {
		r = ct_reverse(skb, &p, &x);
		if (r < 0) {
			trace(skb, cfg, &p, &x, POINT_DROP, DROP_NAT_FAILED);
			return TC_ACT_SHOT;
		}
		/* Not a reply: a new or known connection to a NodePort? */
		if (r == 0) {
			r = nodeport(skb, &p, cfg, &x);
			if (r != NP_NOT_NODEPORT)
				return r;
		}
	}
	ep = bpf_map_lookup_elem(&lby_endpoints_v1, &p.daddr);
	if (ep)
		return to_endpoint(skb, &p, cfg, &x, ep);
	/* A NodePort or LoadBalancer reply from a backend on another node,
	 * reversed: out to the client by the FIB (the stack would drop a
	 * source that is the node's own). */
	if (cfg && x.kind == XLATE_REVNAT && external_frontend(p.saddr, p.sport, p.proto))
		return to_network(skb, &p, cfg, &x);
	/* For the node itself. The sender does not know our tunnel device's
	 * MAC, so the inner frame may be addressed elsewhere: the stack would
	 * discard it as another host's, hence the type fix (only for the
	 * tunnel: on a real network such frames are for other hosts). */
	if (tunnel && skb->pkt_type == PACKET_OTHERHOST)
		bpf_skb_change_type(skb, PACKET_HOST);
	trace(skb, cfg, &p, &x, POINT_TO_STACK, 0);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "Dual MIT/GPL";
