/* Attached to the ingress of each pod's host-side veth: every packet a pod
 * sends passes here first. Service translation (with conntrack), reverse
 * translation of backend replies, then delivery: into a local pod, into
 * the tunnel, by the FIB, or up to the node. */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/trace.h"
#include "lib/ct.h"
#include "lib/icmp_err.h"
#include "lib/lb.h"
#include "lib/reject.h"
#include "lib/deliver.h"

SEC("classifier")
int lby_from_container(struct __sk_buff *skb)
{
	struct lby_config *cfg = config();
	struct xlate x = {};
	struct pkt p = {};
	int r;

	/* ARP, IPv6 and anything unparsable: the kernel handles it. */
	if (parse_ipv4(skb, &p) < 0)
		return TC_ACT_OK;
	trace(skb, cfg, &p, 0, POINT_FROM_ENDPOINT, 0);

	if (ct_reverse_icmp(skb, &p, &x) < 0) {
		trace(skb, cfg, &p, &x, POINT_DROP, DROP_NAT_FAILED);
		return TC_ACT_SHOT;
	}
	if (p.has_ports) {
		/* A backend answering a translated flow? */
		r = ct_reverse(skb, &p, &x);
		if (r < 0) {
			trace(skb, cfg, &p, &x, POINT_DROP, DROP_NAT_FAILED);
			return TC_ACT_SHOT;
		}
		if (r == 0) {
			r = lb4_translate(skb, &p, cfg, &x, 0);
			switch (r) {
			case LB_NO_BACKENDS:
				trace(skb, cfg, &p, &x, POINT_DROP, DROP_NO_BACKENDS);
				return reject(skb, &p);
			case LB_BACKEND_MISSING:
				trace(skb, cfg, &p, &x, POINT_DROP, DROP_BACKEND_MISSING);
				return TC_ACT_SHOT;
			case LB_NAT_FAILED:
				trace(skb, cfg, &p, &x, POINT_DROP, DROP_NAT_FAILED);
				return TC_ACT_SHOT;
			default:
				break;
			}
		}
	}
	if (!policy_judge(skb, &p, cfg, &x, POL_DIR_EGRESS))
		return TC_ACT_SHOT;
	return forward_from_endpoint(skb, &p, cfg, &x);
}

char _license[] SEC("license") = "Dual MIT/GPL";
