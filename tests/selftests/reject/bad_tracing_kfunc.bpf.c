// SPDX-License-Identifier: GPL-2.0
/*
 * bad_tracing_kfunc.bpf.c - must be rejected: a tracing program calls a
 * ccmap kfunc (they are registered for syscall and struct_ops programs
 * only).  Its control twin is in reject.bpf.c.
 */
#include "ccmap.bpf.h"

char _license[] SEC("license") = "GPL";

SEC("tp_btf/sched_process_fork")
int BPF_PROG(bad_tracing_fork, struct task_struct *parent,
	     struct task_struct *child)
{
	bpf_ccmap_wake(1);
	return 0;
}
