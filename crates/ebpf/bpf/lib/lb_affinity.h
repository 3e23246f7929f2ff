/* sessionAffinity ClientIP: a new flow from a client that got a backend
 * of the same service within the timeout goes to that backend again.
 * The frontend slot's backend_id (no backend for a frontend) carries the
 * timeout in seconds; 0 is no affinity. Entries are (client, service) ->
 * (backend slot, backend id, last use); one still counts only while that
 * slot holds the same backend, so a backend leaving ends its clients'
 * affinity at once. LRU: a node never fills up with old clients. */
#ifndef LBY_LB_AFFINITY_H
#define LBY_LB_AFFINITY_H

#include "maps.h"

struct lb4_affinity_key {
	__be32 client;
	__u16 rev_nat_index;
	__u16 pad;
};

struct lb4_affinity_value {
	__u32 backend_id;
	__u16 slot;
	__u16 pad;
	__u64 last_used_ns;
};

_Static_assert(sizeof(struct lb4_affinity_key) == 8, "affinity key layout");
_Static_assert(sizeof(struct lb4_affinity_value) == 16, "affinity value layout");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct lb4_affinity_key);
	__type(value, struct lb4_affinity_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lby_lb4_affinity_v1 SEC(".maps");

/* The slot this client's affinity names, or 0 (none, expired, or that
 * slot no longer holds its backend). */
static __always_inline __u16 affinity_slot(const struct pkt *p, const struct lb4_service *svc,
					    const struct lb4_key *frontend)
{
	struct lb4_affinity_key k = { .client = p->saddr, .rev_nat_index = svc->rev_nat_index };
	struct lb4_affinity_value *a;
	struct lb4_service *slot;
	struct lb4_key key = *frontend;

	if (!svc->backend_id)
		return 0;
	a = bpf_map_lookup_elem(&lby_lb4_affinity_v1, &k);
	if (!a || a->slot == 0 || a->slot > svc->count)
		return 0;
	if (bpf_ktime_get_ns() - a->last_used_ns > (__u64)svc->backend_id * 1000000000ULL)
		return 0;
	key.slot = a->slot;
	slot = bpf_map_lookup_elem(&lby_lb4_services_v1, &key);
	if (!slot || slot->backend_id != a->backend_id)
		return 0;
	return a->slot;
}

/* Remember (or refresh) which backend this client got. */
static __always_inline void affinity_remember(const struct pkt *p, const struct lb4_service *svc,
					      __u16 slot, __u32 backend_id)
{
	struct lb4_affinity_key k = { .client = p->saddr, .rev_nat_index = svc->rev_nat_index };
	struct lb4_affinity_value v = {
		.backend_id = backend_id,
		.slot = slot,
		.last_used_ns = bpf_ktime_get_ns(),
	};

	if (svc->backend_id)
		bpf_map_update_elem(&lby_lb4_affinity_v1, &k, &v, BPF_ANY);
}

#endif
