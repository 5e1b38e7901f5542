// SPDX-License-Identifier: GPL-2.0
/*
 * tp_count.bpf.c - proves the BPF toolchain end to end: counts forks of one
 * process through the sched:sched_process_fork tracepoint.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>

char _license[] SEC("license") = "GPL";

const volatile int target_tgid;
__u64 forks;

SEC("tp_btf/sched_process_fork")
int count_fork(u64 *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx[0];

	if (parent->tgid == target_tgid)
		__sync_fetch_and_add(&forks, 1);
	return 0;
}
