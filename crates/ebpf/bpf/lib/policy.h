/* NetworkPolicy: the allow lists labyrinth-policy compiles for this node's
 * pods, judged where a packet leaves a pod (egress, in from_container
 * after Service translation) and where it is delivered into one (ingress,
 * in to_endpoint), so a policy sees the backend pod and port, as in
 * Kubernetes. The Rust mirror is crates/contracts/src/bpf/policy.rs.
 *
 * Order of a judgement:
 *  1. traffic to or from this node's own addresses passes (kubelet probes
 *     and their replies; the iptables datapath never judges it either);
 *  2. a packet of a connection this point already let through, or a reply
 *     to one the other direction let through, passes (policy conntrack
 *     entries in the shared conntrack map), except a TCP SYN, which opens
 *     a new connection and is judged afresh;
 *  3. a pod not isolated in the direction: passes;
 *  4. otherwise the longest-prefix row for (pod, direction, protocol,
 *     peer) must hold the port, or the row for every protocol must exist.
 * Every packet let through by 3 or 4 records a conntrack entry, so open
 * connections survive any later policy change and replies come back. */
#ifndef LBY_POLICY_H
#define LBY_POLICY_H

#include "maps.h"
#include "ct.h"
#include "trace.h"

/* Conntrack directions of policy entries (after CT_DIR_SERVICE/REPLY). */
#define CT_DIR_POL_EGRESS 2  /* the tuple left a local pod, allowed */
#define CT_DIR_POL_INGRESS 3 /* the tuple entered a local pod, allowed */

/* Drop reasons (trace.h numbers the datapath's own from 1). */
#define DROP_POLICY_INGRESS 20 /* isolated for ingress, no rule allows */
#define DROP_POLICY_EGRESS 21  /* isolated for egress, no rule allows */

#define POL_DIR_INGRESS 0
#define POL_DIR_EGRESS 1

#define POL_ISOLATED_INGRESS 1
#define POL_ISOLATED_EGRESS 2

#define POL_PROTO_ANY 0 /* rows of allows for every protocol and port */
#define POL_MAX_RANGES 16

#define POL_VERDICT_ALLOWED 0
#define POL_VERDICT_DROPPED 1

struct policy_pod {
	__u8 isolated; /* POL_ISOLATED_* bits */
	__u8 pad[3];
};

/* LPM key: the prefix length counts bits from `pod`: 64 fixed bits
 * (pod, dir, proto, pad) and then the peer's prefix. */
struct policy_key {
	__u32 prefixlen;
	__be32 pod;
	__u8 dir;
	__u8 proto;
	__u16 pad;
	__be32 peer;
};

/* Host-order destination ports, inclusive. */
struct policy_range {
	__u16 lo;
	__u16 hi;
};

/* For a prefix: every port range that any allow of the pod, direction and
 * protocol whose peers contain the prefix admits (the agent merges them,
 * so the longest prefix alone decides). Rows of POL_PROTO_ANY have none:
 * their existence allows. */
struct policy_value {
	__u16 count;
	__u16 pad;
	struct policy_range ranges[POL_MAX_RANGES];
};

struct policy_stat_key {
	__be32 pod;
	__u8 dir;
	__u8 verdict;
	__u16 pad;
};

_Static_assert(sizeof(struct policy_pod) == 4, "policy_pod layout");
_Static_assert(sizeof(struct policy_key) == 16, "policy_key layout");
_Static_assert(sizeof(struct policy_value) == 68, "policy_value layout");
_Static_assert(sizeof(struct policy_stat_key) == 8, "policy_stat_key layout");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __be32);
	__type(value, struct policy_pod);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lby_pol_pods_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct policy_key);
	__type(value, struct policy_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lby_pol_rules_v1 SEC(".maps");

/* New connections judged for isolated pods, allowed and dropped. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct policy_stat_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lby_pol_stats_v1 SEC(".maps");

/* A packet as policy sees it: the tuple on the wire between the two pods
 * (a reverse-translated reply is judged as the backend sent it). */
struct pol_tuple {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 tcp_flags;
};

static __always_inline void pol_tuple_of(struct __sk_buff *skb, const struct pkt *p,
					 const struct xlate *x, struct pol_tuple *t)
{
	t->saddr = p->saddr;
	t->daddr = p->daddr;
	t->sport = p->sport;
	t->dport = p->dport;
	t->proto = p->proto;
	t->tcp_flags = p->tcp_flags;
	if (x && x->kind == XLATE_REVNAT) {
		t->saddr = x->orig_daddr;
		t->sport = x->orig_dport;
	}
	/* parse_ipv4 reads ports of TCP and UDP only. */
	if (p->proto == IPPROTO_SCTP && !p->has_ports) {
		__be16 ports[2];

		if (bpf_skb_load_bytes(skb, p->l4_off, ports, sizeof(ports)) == 0) {
			t->sport = ports[0];
			t->dport = ports[1];
		}
	}
}

static __always_inline void pol_ct_key(struct ct4_key *k, const struct pol_tuple *t, __u8 dir,
				       int swap)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->saddr = swap ? t->daddr : t->saddr;
	k->daddr = swap ? t->saddr : t->daddr;
	k->sport = swap ? t->dport : t->sport;
	k->dport = swap ? t->sport : t->dport;
	k->proto = t->proto;
	k->dir = dir;
}

/* Known: the tuple passed this point before, or is the reply of a tuple
 * that passed the other direction's point. */
static __always_inline int pol_ct_known(const struct pol_tuple *t, const struct pkt *p, __u8 dir)
{
	__u8 other = dir == CT_DIR_POL_EGRESS ? CT_DIR_POL_INGRESS : CT_DIR_POL_EGRESS;
	struct ct4_entry *e;
	struct ct4_key k;

	pol_ct_key(&k, t, dir, 0);
	e = bpf_map_lookup_elem(&lby_ct4_v1, &k);
	if (!e) {
		pol_ct_key(&k, t, other, 1);
		e = bpf_map_lookup_elem(&lby_ct4_v1, &k);
	}
	if (!e)
		return 0;
	ct_touch(e, p);
	return 1;
}

static __always_inline void pol_ct_record(const struct pol_tuple *t, __u8 dir)
{
	struct ct4_entry e = {};
	struct ct4_key k;

	e.last_seen_ns = bpf_ktime_get_ns();
	e.tcp_seen = t->tcp_flags & CT_TCP_TRACKED;
	pol_ct_key(&k, t, dir, 0);
	/* A full map (LRU) evicts an old flow; nothing to do on failure but
	 * to judge the next packet afresh. */
	bpf_map_update_elem(&lby_ct4_v1, &k, &e, BPF_ANY);
}

static __always_inline void pol_count(__be32 pod, __u8 dir, __u8 verdict)
{
	struct policy_stat_key k = { .pod = pod, .dir = dir, .verdict = verdict };
	__u64 one = 1, *n;

	n = bpf_map_lookup_elem(&lby_pol_stats_v1, &k);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&lby_pol_stats_v1, &k, &one, BPF_NOEXIST);
}

/* Does an allow of `pod` in `dir` admit the peer, protocol and port? */
static __always_inline int pol_rules_allow(__be32 pod, __u8 dir, const struct pol_tuple *t)
{
	struct policy_value *v;
	struct policy_key k = {};
	__u16 port;
	int i;

	k.prefixlen = 96;
	k.pod = pod;
	k.dir = dir;
	k.peer = dir == POL_DIR_INGRESS ? t->saddr : t->daddr;
	k.proto = POL_PROTO_ANY;
	if (bpf_map_lookup_elem(&lby_pol_rules_v1, &k))
		return 1;
	k.proto = t->proto;
	v = bpf_map_lookup_elem(&lby_pol_rules_v1, &k);
	if (!v)
		return 0;
	port = bpf_ntohs(t->dport);
	for (i = 0; i < POL_MAX_RANGES; i++) {
		if (i >= v->count)
			break;
		if (port >= v->ranges[i].lo && port <= v->ranges[i].hi)
			return 1;
	}
	return 0;
}

/* 1: let the packet through; 0: drop it (traced with the reason). */
static __always_inline int policy_judge(struct __sk_buff *skb, const struct pkt *p,
					const struct lby_config *cfg, const struct xlate *x,
					__u8 dir)
{
	__u8 ct_dir = dir == POL_DIR_INGRESS ? CT_DIR_POL_INGRESS : CT_DIR_POL_EGRESS;
	__u8 bit = dir == POL_DIR_INGRESS ? POL_ISOLATED_INGRESS : POL_ISOLATED_EGRESS;
	struct policy_pod *pp;
	struct pol_tuple t;
	__be32 pod, peer;

	pol_tuple_of(skb, p, x, &t);
	pod = dir == POL_DIR_INGRESS ? t.daddr : t.saddr;
	peer = dir == POL_DIR_INGRESS ? t.saddr : t.daddr;
	if (cfg && (peer == cfg->node_ip || peer == cfg->hairpin_ip))
		return 1;
	/* Egress is judged only for packets of this node's pods (the same
	 * program sees the node's own Service traffic on lby_net). */
	if (dir == POL_DIR_EGRESS && !bpf_map_lookup_elem(&lby_endpoints_v1, &pod))
		return 1;
	if (!(t.proto == IPPROTO_TCP && (t.tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN) &&
	    pol_ct_known(&t, p, ct_dir))
		return 1;
	pp = bpf_map_lookup_elem(&lby_pol_pods_v1, &pod);
	if (pp && (pp->isolated & bit)) {
		if (!pol_rules_allow(pod, dir, &t)) {
			pol_count(pod, dir, POL_VERDICT_DROPPED);
			trace(skb, cfg, p, x, POINT_DROP,
			      dir == POL_DIR_INGRESS ? DROP_POLICY_INGRESS : DROP_POLICY_EGRESS);
			return 0;
		}
		pol_count(pod, dir, POL_VERDICT_ALLOWED);
	}
	pol_ct_record(&t, ct_dir);
	return 1;
}

#endif
