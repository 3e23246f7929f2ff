/* Attached to the egress of the tunnel device. A collect_md device sends
 * nothing without tunnel metadata: packets from_container redirected here
 * already carry it, but packets the kernel routed here (the node's own
 * traffic to remote pods) get their remote node from the ipcache now. */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/trace.h"
#include "lib/encap.h"

SEC("classifier")
int lby_to_overlay(struct __sk_buff *skb)
{
	struct lby_config *cfg = config();
	struct bpf_tunnel_key key = {};
	struct ipcache_value *ic;
	struct pkt p = {};

	if (bpf_skb_get_tunnel_key(skb, &key, sizeof(key), 0) == 0)
		return TC_ACT_OK;
	if (parse_ipv4(skb, &p) < 0 || !cfg)
		return TC_ACT_OK;
	ic = ipcache_lookup(p.daddr);
	if (!ic || !ic->tunnel_endpoint || set_tunnel(skb, cfg, ic) < 0) {
		trace(skb, cfg, &p, 0, POINT_DROP, DROP_NO_TUNNEL_ENDPOINT);
		return TC_ACT_SHOT;
	}
	trace(skb, cfg, &p, 0, POINT_TO_OVERLAY, 0);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "Dual MIT/GPL";
