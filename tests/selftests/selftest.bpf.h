/* SPDX-License-Identifier: GPL-2.0 */
/*
 * selftest.bpf.h - included by every selftest policy (<name>.bpf.c): the
 * ccmap BPF declarations, the agent-side SEC("syscall") programs the tests
 * run through util.c (st_manage(), st_zap(), ...), and a filter for the
 * test's own file.
 */
#ifndef __SELFTEST_BPF_H
#define __SELFTEST_BPF_H

#include "ccmap.bpf.h"
#include "selftest_abi.h"

#ifndef READ_ONCE
#define READ_ONCE(x)		(*(const volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v)	(*(volatile typeof(x) *)&(x) = (v))
#endif

/*
 * The file the test made a share (set by the test after fstat(), before it
 * maps the file).  A policy only counts and logs faults on it.
 */
__u64 st_target_dev;
__u64 st_target_ino;

static __always_inline bool st_on_target(const struct ccmap_fault_ctx *ctx)
{
	return ctx->dev == st_target_dev && ctx->ino == st_target_ino;
}

SEC("syscall")
int st_manage_prog(struct st_args *a)
{
	a->ret = bpf_ccmap_manage(a->fd, a->arg);
	return 0;
}

SEC("syscall")
int st_zap_prog(struct st_args *a)
{
	a->ret = bpf_ccmap_zap(a->fd, a->off, a->len);
	return 0;
}

SEC("syscall")
int st_mkclean_prog(struct st_args *a)
{
	a->ret = bpf_ccmap_mkclean(a->fd, a->off, a->len);
	return 0;
}

SEC("syscall")
int st_wake_prog(struct st_args *a)
{
	a->ret = bpf_ccmap_wake(a->arg);
	return 0;
}

#endif /* __SELFTEST_BPF_H */
