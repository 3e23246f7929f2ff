/* Leaving the node for another node's pod: VXLAN through a collect_md
 * ("external") tunnel device, where the program names the remote node in
 * the tunnel key, or native routing through a FIB lookup. */
#ifndef LBY_ENCAP_H
#define LBY_ENCAP_H

#include "maps.h"
#include "csum_nat.h"
#include "trace.h"

#ifndef AF_INET
#define AF_INET 2
#endif

static __always_inline struct ipcache_value *ipcache_lookup(__be32 addr)
{
	struct ipcache_key k = { .prefixlen = 32, .addr = addr };

	return bpf_map_lookup_elem(&lby_ipcache_v1, &k);
}

/* Name the remote node and the VNI in the packet's tunnel metadata; the
 * tunnel device does the encapsulation on its way out. */
static __always_inline int set_tunnel(struct __sk_buff *skb, const struct lby_config *cfg,
				      const struct ipcache_value *ic)
{
	struct bpf_tunnel_key key = {};

	key.remote_ipv4 = bpf_ntohl(ic->tunnel_endpoint);
	key.tunnel_id = cfg->vni;
	key.tunnel_ttl = 64;
	/* Outer UDP checksum off, as Linux's VXLAN does by default. */
	return bpf_skb_set_tunnel_key(skb, &key, sizeof(key), BPF_F_ZERO_CSUM_TX);
}

static __always_inline int to_overlay(struct __sk_buff *skb, const struct pkt *p,
				      const struct lby_config *cfg, const struct xlate *x,
				      const struct ipcache_value *ic)
{
	if (set_tunnel(skb, cfg, ic) < 0) {
		trace(skb, cfg, p, x, POINT_DROP, DROP_NO_TUNNEL_ENDPOINT);
		return TC_ACT_SHOT;
	}
	trace(skb, cfg, p, x, POINT_TO_OVERLAY, 0);
	return bpf_redirect(cfg->tunnel_ifindex, 0);
}

/* Native routing: the kernel's FIB picks the device and next hop; with a
 * resolved neighbour we write the MACs ourselves, otherwise the kernel
 * resolves it (bpf_redirect_neigh). */
static __always_inline int to_network(struct __sk_buff *skb, const struct pkt *p,
				      const struct lby_config *cfg, const struct xlate *x)
{
	struct bpf_fib_lookup f = {};
	struct bpf_redir_neigh nh = {};
	long rc;

	f.family = AF_INET;
	f.l4_protocol = p->proto;
	f.sport = p->sport;
	f.dport = p->dport;
	f.tot_len = p->len - ETH_HLEN;
	f.ipv4_src = p->saddr;
	f.ipv4_dst = p->daddr;
	f.ifindex = skb->ifindex;
	rc = bpf_fib_lookup(skb, &f, sizeof(f), 0);
	if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
		if (set_macs(skb, f.smac, f.dmac) < 0)
			return TC_ACT_SHOT;
		trace(skb, cfg, p, x, POINT_TO_NETWORK, 0);
		return bpf_redirect(f.ifindex, 0);
	}
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		nh.nh_family = AF_INET;
		nh.ipv4_nh = f.ipv4_dst; /* the lookup left the next hop here */
		trace(skb, cfg, p, x, POINT_TO_NETWORK, 0);
		return bpf_redirect_neigh(f.ifindex, &nh, sizeof(nh), 0);
	}
	/* Anything unusual (blackhole, prohibit, not forwarded): the kernel. */
	trace(skb, cfg, p, x, POINT_TO_STACK, 0);
	return TC_ACT_OK;
}

#endif
