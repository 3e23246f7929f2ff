/* Trace events: one record per packet at a named observation point,
 * written to the lby_events ring buffer for `labyrinth observe`. */
#ifndef LBY_TRACE_H
#define LBY_TRACE_H

#include "maps.h"

/* Observation points (src/events.rs names them). */
#define POINT_FROM_ENDPOINT 1 /* left a pod: its host veth's ingress */
#define POINT_TO_ENDPOINT 2   /* redirected into a local pod */
#define POINT_TO_OVERLAY 3    /* handed to the tunnel device */
#define POINT_FROM_OVERLAY 4  /* arrived decapsulated from the tunnel */
#define POINT_TO_STACK 5      /* passed to the node's own stack */
#define POINT_DROP 6	      /* dropped, see reason */
#define POINT_TO_NETWORK 7    /* native routing: out of a node device */
#define POINT_FROM_NETWORK 8  /* native routing: in from the underlay */

/* Drop reasons. */
#define DROP_NO_BACKENDS 1	  /* service with no backends (answered with RST/ICMP) */
#define DROP_NO_TUNNEL_ENDPOINT 2 /* remote pod CIDR unknown to the ipcache */
#define DROP_BACKEND_MISSING 3	  /* a service slot names a deleted backend */
#define DROP_NAT_FAILED 4	  /* the kernel refused a packet rewrite */
#define DROP_FIB_FAILED 5	  /* native routing: no route */

struct trace_event {
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 point;
	__u8 reason;
	__u8 tcp_flags;
	__u32 ifindex;
	/* For translated flows, the other side of the translation: the
	 * ClusterIP:port the client asked for (XLATE_DNAT), or the backend
	 * address:port a reply came from (XLATE_REVNAT). */
	__be32 orig_daddr;
	__be16 orig_dport;
	__u16 rev_nat_index;
	__u32 len;
	__u8 xlate;
	__u8 pad[7];
};

_Static_assert(sizeof(struct trace_event) == 48, "trace_event layout");

#define XLATE_NONE 0
#define XLATE_DNAT 1   /* service: ClusterIP:port -> backend */
#define XLATE_REVNAT 2 /* reply: backend -> ClusterIP:port */

/* What the packet was before translation, when it was translated. */
struct xlate {
	__u8 kind;
	__be32 orig_daddr;
	__be16 orig_dport;
	__u16 rev_nat_index;
	__u8 new_flow; /* this packet created the conntrack entry */
};

/* Aggregation as Cilium's monitor does: at the "flows" level only the
 * packets that open, close or translate a flow are reported, so tracing
 * costs nothing on a busy established connection. */
static __always_inline int trace_wanted(const struct lby_config *cfg, const struct pkt *p,
					const struct xlate *x, __u8 point)
{
	__u8 level = cfg ? cfg->trace_level : TRACE_FLOWS;

	if (point == POINT_DROP || level >= TRACE_ALL)
		return 1;
	if (level < TRACE_FLOWS)
		return 0;
	if (p->tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST))
		return 1;
	return x && x->new_flow;
}

static __always_inline void trace(struct __sk_buff *skb, const struct lby_config *cfg,
				  const struct pkt *p, const struct xlate *x, __u8 point,
				  __u8 reason)
{
	struct trace_event *e;

	if (!trace_wanted(cfg, p, x, point))
		return;
	/* A full ring (no reader) loses events, never packets. */
	e = bpf_ringbuf_reserve(&lby_events, sizeof(*e), 0);
	if (!e)
		return;
	e->ts_ns = bpf_ktime_get_ns();
	e->saddr = p->saddr;
	e->daddr = p->daddr;
	e->sport = p->sport;
	e->dport = p->dport;
	e->proto = p->proto;
	e->point = point;
	e->reason = reason;
	e->tcp_flags = p->tcp_flags;
	e->ifindex = skb->ifindex;
	e->orig_daddr = x ? x->orig_daddr : 0;
	e->orig_dport = x ? x->orig_dport : 0;
	e->rev_nat_index = x ? x->rev_nat_index : 0;
	e->len = p->len;
	e->xlate = x ? x->kind : XLATE_NONE;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	bpf_ringbuf_submit(e, 0);
}

#endif
