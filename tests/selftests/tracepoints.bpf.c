// SPDX-License-Identifier: GPL-2.0
/*
 * tracepoints.bpf.c - tp_btf programs on every ccmap:* tracepoint keep the
 * events of the test's process (@st_tgid), and a policy that makes page 1
 * of the test's file wait until grant_and_wake grants it.
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

#define TP_TIMEOUT_MS	2000
#define TP_POLICY_FLAGS	CCMAP_OPS_SIGBUS_ON_DETACH

__u32 st_tgid;
__u32 granted;

__u32 nr_fault, nr_wait_begin, nr_wait_end, nr_wake, nr_zap, nr_mkclean,
	nr_state, nr_manage, nr_attach, nr_exit;
struct tp_fault_rec fault_log[TP_LOG];
struct tp_wait_rec wait_begin, wait_end;
__u64 wake_key;
struct tp_range_rec zap_log[TP_LOG], mkclean_log[TP_LOG];
struct tp_state_rec state;
struct tp_manage_rec manage_log[TP_LOG];
struct tp_policy_rec attach_rec, exit_rec;

static __always_inline bool mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == st_tgid;
}

/* The next slot of a log, or NULL when the event is not ours. */
#define TP_SLOT(log, nr)						\
	({								\
		typeof(&log[0]) __r = NULL;				\
		if (mine())						\
			__r = &log[__sync_fetch_and_add(&nr, 1) % TP_LOG]; \
		__r;							\
	})

SEC("tp_btf/ccmap_fault")
int BPF_PROG(tp_fault, u64 dev, u64 ino, u64 pgoff, u32 access, u32 flags,
	     s64 verdict)
{
	struct tp_fault_rec *r = TP_SLOT(fault_log, nr_fault);

	if (!r)
		return 0;
	r->dev = dev;
	r->ino = ino;
	r->pgoff = pgoff;
	r->access = access;
	r->flags = flags;
	r->verdict = verdict;
	return 0;
}

SEC("tp_btf/ccmap_wait_begin")
int BPF_PROG(tp_wait_begin, u64 dev, u64 ino, u64 pgoff, u32 access, u64 key,
	     u32 timeout_ms)
{
	if (!mine())
		return 0;
	wait_begin.dev = dev;
	wait_begin.ino = ino;
	wait_begin.pgoff = pgoff;
	wait_begin.access = access;
	wait_begin.key = key;
	wait_begin.timeout_ms = timeout_ms;
	__sync_fetch_and_add(&nr_wait_begin, 1);
	return 0;
}

SEC("tp_btf/ccmap_wait_end")
int BPF_PROG(tp_wait_end, u64 dev, u64 ino, u64 pgoff, u32 access, u64 key,
	     u32 outcome, u64 waited_ns)
{
	if (!mine())
		return 0;
	wait_end.dev = dev;
	wait_end.ino = ino;
	wait_end.pgoff = pgoff;
	wait_end.access = access;
	wait_end.key = key;
	wait_end.outcome = outcome;
	wait_end.waited_ns = waited_ns;
	__sync_fetch_and_add(&nr_wait_end, 1);
	return 0;
}

SEC("tp_btf/ccmap_wake")
int BPF_PROG(tp_wake, u64 key)
{
	if (!mine())
		return 0;
	wake_key = key;
	__sync_fetch_and_add(&nr_wake, 1);
	return 0;
}

static __always_inline void range_rec(struct tp_range_rec *r, u64 dev, u64 ino,
				      u64 pgoff, u64 nr, s64 count, u32 who)
{
	r->dev = dev;
	r->ino = ino;
	r->pgoff = pgoff;
	r->nr = nr;
	r->count = count;
	r->who = who;
}

SEC("tp_btf/ccmap_zap")
int BPF_PROG(tp_zap, u64 dev, u64 ino, u64 pgoff, u64 nr, s64 count, u32 who)
{
	struct tp_range_rec *r = TP_SLOT(zap_log, nr_zap);

	if (r)
		range_rec(r, dev, ino, pgoff, nr, count, who);
	return 0;
}

SEC("tp_btf/ccmap_mkclean")
int BPF_PROG(tp_mkclean, u64 dev, u64 ino, u64 pgoff, u64 nr, s64 count,
	     u32 who)
{
	struct tp_range_rec *r = TP_SLOT(mkclean_log, nr_mkclean);

	if (r)
		range_rec(r, dev, ino, pgoff, nr, count, who);
	return 0;
}

SEC("tp_btf/ccmap_state")
int BPF_PROG(tp_state, u64 dev, u64 ino, u64 pgoff, u64 nr, u32 from, u32 to)
{
	if (!mine())
		return 0;
	state.dev = dev;
	state.ino = ino;
	state.pgoff = pgoff;
	state.nr = nr;
	state.from = from;
	state.to = to;
	__sync_fetch_and_add(&nr_state, 1);
	return 0;
}

SEC("tp_btf/ccmap_manage")
int BPF_PROG(tp_manage, u64 dev, u64 ino, u64 flags, int ret)
{
	struct tp_manage_rec *r = TP_SLOT(manage_log, nr_manage);

	if (!r)
		return 0;
	r->dev = dev;
	r->ino = ino;
	r->flags = flags;
	r->ret = ret;
	return 0;
}

SEC("tp_btf/ccmap_attach")
int BPF_PROG(tp_attach, const char *name, u64 flags, u32 timeout_ms)
{
	if (!mine())
		return 0;
	bpf_probe_read_kernel_str(attach_rec.name, sizeof(attach_rec.name),
				  name);
	attach_rec.flags = flags;
	attach_rec.timeout_ms = timeout_ms;
	__sync_fetch_and_add(&nr_attach, 1);
	return 0;
}

SEC("tp_btf/ccmap_exit")
int BPF_PROG(tp_exit, const char *name, int kind, const char *reason)
{
	if (!mine())
		return 0;
	bpf_probe_read_kernel_str(exit_rec.name, sizeof(exit_rec.name), name);
	bpf_probe_read_kernel_str(exit_rec.reason, sizeof(exit_rec.reason),
				  reason);
	exit_rec.kind = kind;
	__sync_fetch_and_add(&nr_exit, 1);
	return 0;
}

/* The policy: page 1 waits until granted, everything else goes. */
s64 BPF_CCMAP_OPS(tracepoints_fault, struct ccmap_fault_ctx *ctx)
{
	if (!st_on_target(ctx) || ctx->pgoff != 1 || READ_ONCE(granted))
		return CCMAP_GO;
	return ccmap_fault_key(ctx);
}

SEC("syscall")
int grant_and_wake(struct st_args *a)
{
	WRITE_ONCE(granted, 1);
	a->ret = bpf_ccmap_wake(ccmap_page_key(st_target_dev, st_target_ino, 1));
	return 0;
}

/* ccmap_state for @a->page .. + @a->len pages, transition @a->arg. */
SEC("syscall")
int trace_state(struct st_args *a)
{
	a->ret = bpf_ccmap_trace_state(st_target_dev, st_target_ino, a->page,
				       a->len, a->arg);
	return 0;
}

CCMAP_OPS_DEFINE(tracepoints_ops,
	.fault = (void *)tracepoints_fault,
	.flags = TP_POLICY_FLAGS,
	.timeout_ms = TP_TIMEOUT_MS,
	.name = "st_tracepoints");
