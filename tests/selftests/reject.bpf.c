// SPDX-License-Identifier: GPL-2.0
/*
 * reject.bpf.c - the control twins of the programs in reject/: the same
 * programs, written the allowed way, must load.  So when a reject/ object
 * fails, it fails for the one thing it does wrong.
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

__u64 last_pgoff;
int raise_error;

/* Reads its context and calls every kfunc a ccmap op may call. */
s64 BPF_CCMAP_OPS(reject_ok_fault, struct ccmap_fault_ctx *ctx)
{
	last_pgoff = ctx->pgoff;
	if (raise_error)
		ccmap_error("st_reject: control");
	ccmap_trace_state(ctx->dev, ctx->ino, ctx->pgoff, 1, 0, 1);
	bpf_ccmap_wake(ccmap_fault_key(ctx));
	return CCMAP_GO;
}

/* Sleepable init: allowed, and may call the non-sleeping kfuncs. */
s32 BPF_CCMAP_OPS_SLEEPABLE(reject_ok_init)
{
	bpf_ccmap_wake(1);
	return 0;
}

CCMAP_OPS_DEFINE(reject_ok_ops,
	.fault = (void *)reject_ok_fault,
	.init = (void *)reject_ok_init,
	.name = "st_reject_ok");

/* tcp_congestion_ops without the ccmap kfunc. */
SEC("struct_ops/ok_cc_init")
void BPF_PROG(ok_cc_init, struct sock *sk)
{
}

SEC("struct_ops/ok_cc_ssthresh")
__u32 BPF_PROG(ok_cc_ssthresh, struct sock *sk)
{
	return 2;
}

SEC("struct_ops/ok_cc_undo_cwnd")
__u32 BPF_PROG(ok_cc_undo_cwnd, struct sock *sk)
{
	return 2;
}

SEC("struct_ops/ok_cc_cong_avoid")
void BPF_PROG(ok_cc_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC(".struct_ops.link")
struct tcp_congestion_ops ok_cc = {
	.init = (void *)ok_cc_init,
	.ssthresh = (void *)ok_cc_ssthresh,
	.undo_cwnd = (void *)ok_cc_undo_cwnd,
	.cong_avoid = (void *)ok_cc_cong_avoid,
	.name = "st_ok_cc",
};

/* A tracing program on the same tracepoint, without the kfunc. */
__u64 forks;

SEC("tp_btf/sched_process_fork")
int BPF_PROG(ok_tracing_fork, struct task_struct *parent,
	     struct task_struct *child)
{
	__sync_fetch_and_add(&forks, 1);
	return 0;
}
