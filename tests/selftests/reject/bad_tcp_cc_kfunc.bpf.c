// SPDX-License-Identifier: GPL-2.0
/*
 * bad_tcp_cc_kfunc.bpf.c - must be rejected: a program of another
 * struct_ops type (tcp_congestion_ops) calls a ccmap kfunc.  All struct_ops
 * types share one kfunc hook; ccmap's filter keeps the others out.  The
 * control twin in reject.bpf.c loads the same ops without the call.
 */
#include "ccmap.bpf.h"

char _license[] SEC("license") = "GPL";

SEC("struct_ops/bad_cc_init")
void BPF_PROG(bad_cc_init, struct sock *sk)
{
	bpf_ccmap_wake(1);
}

SEC("struct_ops/bad_cc_ssthresh")
__u32 BPF_PROG(bad_cc_ssthresh, struct sock *sk)
{
	return 2;
}

SEC("struct_ops/bad_cc_undo_cwnd")
__u32 BPF_PROG(bad_cc_undo_cwnd, struct sock *sk)
{
	return 2;
}

SEC("struct_ops/bad_cc_cong_avoid")
void BPF_PROG(bad_cc_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC(".struct_ops.link")
struct tcp_congestion_ops bad_cc = {
	.init = (void *)bad_cc_init,
	.ssthresh = (void *)bad_cc_ssthresh,
	.undo_cwnd = (void *)bad_cc_undo_cwnd,
	.cong_avoid = (void *)bad_cc_cong_avoid,
	.name = "st_bad_cc",
};
