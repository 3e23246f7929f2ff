/* Rewriting addresses and ports with incremental checksum fixes. The
 * kernel helpers do the right thing for both a full checksum and a
 * CHECKSUM_PARTIAL packet from a pod (where only the pseudo-header part
 * is in the field and the device, or nobody on a veth, sums the rest). */
#ifndef LBY_CSUM_NAT_H
#define LBY_CSUM_NAT_H

#include "common.h"

/* Replace the source (is_dst = 0) or destination address. */
static __always_inline int nat_addr(struct __sk_buff *skb, struct pkt *p, int is_dst,
				    __be32 new_addr)
{
	__be32 old = is_dst ? p->daddr : p->saddr;
	__u32 off = is_dst ? IP_DST_OFF : IP_SRC_OFF;

	if (old == new_addr)
		return 0;
	/* The L4 checksum covers the addresses through the pseudo-header. */
	if (p->has_ports &&
	    bpf_l4_csum_replace(skb, p->l4_csum_off, old, new_addr,
				BPF_F_PSEUDO_HDR | sizeof(new_addr) | p->csum_flags) < 0)
		return -1;
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old, new_addr, sizeof(new_addr)) < 0)
		return -1;
	if (bpf_skb_store_bytes(skb, off, &new_addr, sizeof(new_addr), 0) < 0)
		return -1;
	if (is_dst)
		p->daddr = new_addr;
	else
		p->saddr = new_addr;
	return 0;
}

/* Replace the source or destination port (TCP and UDP keep them at the
 * same offsets). */
static __always_inline int nat_port(struct __sk_buff *skb, struct pkt *p, int is_dst,
				    __be16 new_port)
{
	__be16 old = is_dst ? p->dport : p->sport;
	__u32 off = p->l4_off + (is_dst ? 2 : 0);

	if (old == new_port || !p->has_ports)
		return 0;
	if (bpf_l4_csum_replace(skb, p->l4_csum_off, old, new_port,
				sizeof(new_port) | p->csum_flags) < 0)
		return -1;
	if (bpf_skb_store_bytes(skb, off, &new_port, sizeof(new_port), 0) < 0)
		return -1;
	if (is_dst)
		p->dport = new_port;
	else
		p->sport = new_port;
	return 0;
}

/* Set both MAC addresses, as a router hop does. */
static __always_inline int set_macs(struct __sk_buff *skb, const __u8 *src, const __u8 *dst)
{
	__u8 macs[2 * ETH_ALEN];

	/* One write: each store may have to unshare the packet's head. */
	__builtin_memcpy(macs, dst, ETH_ALEN);
	__builtin_memcpy(macs + ETH_ALEN, src, ETH_ALEN);
	return bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0);
}

#endif
