/* Conntrack for translated flows. A new service flow writes two entries:
 *   service dir: (client, ClusterIP, sport, port)      -> backend
 *   reply dir:   (backend, client', bport, sport)      -> service id
 * where client' is the client, the hairpin address when the client is
 * its own backend, or the node's address for a masqueraded NodePort flow. Replies are found by their own 5-tuple as they leave
 * the backend (same node) or come out of the tunnel (other node). */
#ifndef LBY_CT_H
#define LBY_CT_H

#include "maps.h"
#include "csum_nat.h"
#include "trace.h"

static __always_inline void ct_key(struct ct4_key *k, const struct pkt *p, __u8 dir)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->saddr = p->saddr;
	k->daddr = p->daddr;
	k->sport = p->sport;
	k->dport = p->dport;
	k->proto = p->proto;
	k->dir = dir;
}

/* The flags that tell a flow's state: a SYN alone opens it, an ACK makes
 * it established, a FIN or RST closes it. */
#define CT_TCP_TRACKED (TCP_SYN | TCP_ACK | TCP_FIN | TCP_RST)
/* A busy flow writes its timestamp at most once a second (the collector
 * counts lifetimes in seconds), not on every packet. */
#define CT_TOUCH_NS 1000000000ULL

/* A packet of a known flow: keep the entry alive and remember its TCP
 * flags, from which the agent's collector derives the flow's lifetime.
 * A bare SYN is a (re)opening: the state starts over (a closed flow's SYN
 * never gets here, see ct_reopened). */
static __always_inline void ct_touch(struct ct4_entry *e, const struct pkt *p)
{
	__u64 now = bpf_ktime_get_ns();
	__u8 seen = e->tcp_seen | (p->tcp_flags & CT_TCP_TRACKED);

	if ((p->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
		seen = TCP_SYN;
	if (now - e->last_seen_ns > CT_TOUCH_NS)
		e->last_seen_ns = now;
	if (seen != e->tcp_seen)
		e->tcp_seen = seen;
}

static __always_inline struct ct4_entry *ct_lookup_service(const struct pkt *p)
{
	struct ct4_key k;

	ct_key(&k, p, CT_DIR_SERVICE);
	return bpf_map_lookup_elem(&lby_ct4_v1, &k);
}

/* The key of the reply entry of p's flow (p as the client sent it). */
static __always_inline void ct_reply_key(struct ct4_key *k, const struct pkt *p,
					 const struct lby_config *cfg, const struct ct4_entry *fwd)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->saddr = fwd->backend_addr;
	k->daddr = p->saddr;
	if ((fwd->flags & CT_F_HAIRPIN) && cfg)
		k->daddr = cfg->hairpin_ip;
	else if (fwd->flags & CT_F_SNAT)
		k->daddr = fwd->orig_addr;
	k->sport = fwd->backend_port;
	k->dport = p->sport;
	k->proto = p->proto;
	k->dir = CT_DIR_REPLY;
}

/* Record a new flow (p as the client sent it, fwd the chosen backend). */
static __always_inline int ct_create(const struct pkt *p, const struct lby_config *cfg,
				     struct ct4_entry *fwd)
{
	struct ct4_key k;
	struct ct4_entry rev = {};
	__u64 now = bpf_ktime_get_ns();

	fwd->last_seen_ns = now;
	fwd->tcp_seen = p->tcp_flags & CT_TCP_TRACKED;
	ct_key(&k, p, CT_DIR_SERVICE);
	if (bpf_map_update_elem(&lby_ct4_v1, &k, fwd, BPF_ANY) < 0)
		return -1;

	ct_reply_key(&k, p, cfg, fwd);
	rev.rev_nat_index = fwd->rev_nat_index;
	rev.backend_id = fwd->backend_id;
	rev.backend_addr = fwd->backend_addr;
	rev.backend_port = fwd->backend_port;
	rev.orig_addr = p->saddr;
	rev.flags = fwd->flags;
	rev.last_seen_ns = now;
	return bpf_map_update_elem(&lby_ct4_v1, &k, &rev, BPF_ANY);
}

/* A SYN on the entries of a flow either side closed (FIN or RST seen)
 * opens a new connection from a reused source port: it gets a new backend
 * choice (as conntrack reopens a closed entry), not the old flow's, which
 * may be a backend that refused or has left since. */
static __always_inline int ct_reopened(const struct pkt *p, const struct lby_config *cfg,
				       const struct ct4_entry *fwd)
{
	struct ct4_key k;
	struct ct4_entry *rev;

	if (p->proto != IPPROTO_TCP || (p->tcp_flags & (TCP_SYN | TCP_ACK)) != TCP_SYN)
		return 0;
	if (fwd->tcp_seen & (TCP_FIN | TCP_RST))
		return 1;
	ct_reply_key(&k, p, cfg, fwd);
	rev = bpf_map_lookup_elem(&lby_ct4_v1, &k);
	return rev && (rev->tcp_seen & (TCP_FIN | TCP_RST));
}

/* If p is a reply of a translated flow, undo the translation: source back
 * to ClusterIP:port, and for hairpin or SNAT the destination back to the
 * client.
 * 1 = reversed, 0 = not a reply we know, -1 = rewrite failed. */
static __always_inline int ct_reverse(struct __sk_buff *skb, struct pkt *p, struct xlate *x)
{
	struct ct4_key k;
	struct ct4_entry *e;
	struct lb4_reverse_nat *rn;
	__u16 id;

	ct_key(&k, p, CT_DIR_REPLY);
	e = bpf_map_lookup_elem(&lby_ct4_v1, &k);
	if (!e)
		return 0;
	id = e->rev_nat_index;
	rn = bpf_map_lookup_elem(&lby_lb4_reverse_nat_v1, &id);
	if (!rn)
		return 0; /* the service is gone: nothing to answer as */
	ct_touch(e, p);
	if (!(e->flags & CT_F_ANSWERED))
		e->flags |= CT_F_ANSWERED;
	x->kind = XLATE_REVNAT;
	x->orig_daddr = p->saddr;
	x->orig_dport = p->sport;
	x->rev_nat_index = id;
	if (nat_addr(skb, p, 0, rn->address) < 0 || nat_port(skb, p, 0, rn->port) < 0)
		return -1;
	if ((e->flags & (CT_F_HAIRPIN | CT_F_SNAT)) && nat_addr(skb, p, 1, e->orig_addr) < 0)
		return -1;
	return 1;
}

#endif
