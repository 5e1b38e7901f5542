// SPDX-License-Identifier: GPL-2.0
/*
 * fault_cost.bpf.c - the fast path of a page-granular policy: look the page
 * up in a hash map under its spin lock and let the fault go when the state
 * allows the access (as bpf/ccmap_policy.bpf.h does for a granted page).
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

struct fault_cost_key {
	__u32 share;
	__u32 reserved;
	__u64 pgoff;
};

struct fault_cost_page {
	struct bpf_spin_lock lock;
	__u32 state;		/* 0 I, 1 S, 2 E */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct fault_cost_key);
	__type(value, struct fault_cost_page);
} pages SEC(".maps");

__u64 nr_fault, nr_wait;

s64 BPF_CCMAP_OPS(fault_cost_fault, struct ccmap_fault_ctx *ctx)
{
	struct fault_cost_key key = { .pgoff = ctx->pgoff };
	struct fault_cost_page *pg;
	__u32 state;

	if (!st_on_target(ctx))
		return CCMAP_GO;
	__sync_fetch_and_add(&nr_fault, 1);
	pg = bpf_map_lookup_elem(&pages, &key);
	if (!pg)
		return CCMAP_SIGBUS(EIO);
	bpf_spin_lock(&pg->lock);
	state = pg->state;
	bpf_spin_unlock(&pg->lock);
	if (state == 2 || (state == 1 && !ccmap_is_write(ctx)))
		return CCMAP_GO;
	__sync_fetch_and_add(&nr_wait, 1);
	return ccmap_fault_key(ctx);
}

CCMAP_OPS_DEFINE(fault_cost_ops,
	.fault = (void *)fault_cost_fault,
	.name = "st_fault_cost");
