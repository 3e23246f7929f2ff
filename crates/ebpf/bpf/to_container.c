/* Attached to the egress of each pod's host-side veth: what goes into the
 * pod. A reply from a Service backend that is the node itself (a
 * hostNetwork pod, or the API server behind `kubernetes` on a control
 * node) is reversed here: the node's stack routes it straight to the pod,
 * past every other program, and without this the pod would see it come
 * from the backend's address instead of the ClusterIP it connected to.
 * What our programs redirect here was reversed already, and no reply
 * entry matches it again. */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/trace.h"
#include "lib/ct.h"
#include "lib/icmp_err.h"

SEC("classifier")
int lby_to_container(struct __sk_buff *skb)
{
	struct lby_config *cfg = config();
	struct xlate x = {};
	struct pkt p = {};

	if (parse_ipv4(skb, &p) < 0)
		return TC_ACT_OK;
	if (ct_reverse_icmp(skb, &p, &x) < 0 || (p.has_ports && ct_reverse(skb, &p, &x) < 0)) {
		trace(skb, cfg, &p, &x, POINT_DROP, DROP_NAT_FAILED);
		return TC_ACT_SHOT;
	}
	/* Only the node's own replies are reversed here: traced as they
	 * enter the pod, as from_container traces its deliveries. */
	if (x.kind == XLATE_REVNAT)
		trace(skb, cfg, &p, &x, POINT_TO_ENDPOINT, 0);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "Dual MIT/GPL";
