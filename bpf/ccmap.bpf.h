/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ccmap.bpf.h - what ccmap policies (struct ccmap_ops) and the agent's
 * SEC("syscall") programs include.
 *
 * A policy looks like this (see tools/sched_ext/include/scx/common.bpf.h for
 * the model):
 *
 *	#include "ccmap.bpf.h"
 *	char _license[] SEC("license") = "GPL";
 *
 *	s64 BPF_CCMAP_OPS(demo_fault, struct ccmap_fault_ctx *fc)
 *	{
 *		return CCMAP_GO;	// 0 go, > 0 wait key, < 0 -errno
 *	}
 *
 *	CCMAP_OPS_DEFINE(demo_ops,
 *		.fault = (void *)demo_fault,
 *		.name = "demo");
 *
 * vmlinux.h must be dumped from the *patched* kernel (bpftool btf dump file
 * vmlinux format c): it provides struct ccmap_ops, struct ccmap_fault_ctx,
 * struct ccmap_page_ctx, struct ccmap_exit_info and the ccmap enums.
 *
 * Kfuncs and where the verifier lets them be called:
 *   any ccmap_ops callback and SEC("syscall"):
 *     bpf_ccmap_wake, bpf_ccmap_trace_state, bpf_ccmap_error
 *   SEC("syscall") only (they sleep):
 *     bpf_ccmap_manage, bpf_ccmap_zap, bpf_ccmap_mkclean,
 *     bpf_ccmap_writeback, bpf_ccmap_invalidate
 * Programs of other types, and other struct_ops types, cannot call any.
 */
#ifndef __CCMAP_BPF_H
#define __CCMAP_BPF_H

/* We declare the kfuncs ourselves; newer bpftool would emit them too. */
#define BPF_NO_KFUNC_PROTOTYPES
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "ccmap_abi.h"

/*
 * vmlinux.h has no errno values and system headers do not work for the BPF
 * target: the ones policies return from ops.fault() (as -errno, SIGBUS).
 */
#ifndef EPERM
#define EPERM		1
#define ENOENT		2
#define EIO		5
#define EAGAIN		11
#define ENOMEM		12
#define EBUSY		16
#define EINVAL		22
#define ENOSPC		28
#define ENOLINK		67
#define ECONNRESET	104
#define EHOSTDOWN	112
#define ETIMEDOUT	110
#endif

/*
 * kfuncs (kernel-doc in mm/ccmap.c).  @fd is a descriptor of the file in the
 * process that runs the SEC("syscall") program (BPF_PROG_RUN); @off/@len are
 * a byte range, @len 0 meaning "to the end of the file".
 */

/* Mark @fd as a share (before its first mmap), or unmark it. */
extern int bpf_ccmap_manage(int fd, __u64 flags) __ksym;
/* Unmap pages everywhere; private COW copies stay. Returns >= 0 or -errno. */
extern __s64 bpf_ccmap_zap(int fd, __u64 off, __u64 len) __ksym;
/* Write-protect and clean PTEs everywhere. Returns folios cleaned or -errno. */
extern __s64 bpf_ccmap_mkclean(int fd, __u64 off, __u64 len) __ksym;
/* filemap_write_and_wait_range(). */
extern int bpf_ccmap_writeback(int fd, __u64 off, __u64 len) __ksym;
/* Drop clean pages from the page cache (not on tmpfs: -EOPNOTSUPP). */
extern int bpf_ccmap_invalidate(int fd, __u64 off, __u64 len) __ksym;
/* Wake the faults waiting for @key (> 0). Update the state first. */
extern int bpf_ccmap_wake(__u64 key) __ksym;
/* Emit ccmap:ccmap_state; @transition = CCMAP_TRANSITION(from, to). */
extern int bpf_ccmap_trace_state(__u64 dev, __u64 ino, __u64 pgoff, __u64 nr,
				 __u64 transition) __ksym;
/* Error exit: detach the policy, @reason__str must be a string literal. */
extern void bpf_ccmap_error(const char *reason__str) __ksym;

/*
 * Declaring ops: non-sleeping callbacks (fault, zap, mkclean) with
 * BPF_CCMAP_OPS, init and exit may use BPF_CCMAP_OPS_SLEEPABLE.  Like
 * BPF_PROG(), but the raw context is not a parameter of the body, so an
 * argument may be called "ctx" and -Wunused-parameter stays quiet about it.
 */
#define ___CCMAP_PROG(name, args...)					\
name(unsigned long long *ctx);						\
static __always_inline typeof(name(0))					\
____##name(unsigned long long *___ctx __attribute__((unused)), ##args); \
typeof(name(0)) name(unsigned long long *ctx)				\
{									\
	_Pragma("GCC diagnostic push")					\
	_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")		\
	return ____##name(___bpf_ctx_cast(args));			\
	_Pragma("GCC diagnostic pop")					\
}									\
static __always_inline typeof(name(0))					\
____##name(unsigned long long *___ctx __attribute__((unused)), ##args)

#define BPF_CCMAP_OPS(name, args...)					\
	SEC("struct_ops/" #name) ___CCMAP_PROG(name, ##args)

#define BPF_CCMAP_OPS_SLEEPABLE(name, args...)				\
	SEC("struct_ops.s/" #name) ___CCMAP_PROG(name, ##args)

/* A link-based struct_ops map: closing the link detaches the policy. */
#define CCMAP_OPS_DEFINE(__name, ...)					\
	SEC(".struct_ops.link")						\
	struct ccmap_ops __name = {					\
		__VA_ARGS__,						\
	}

/* Verdicts of ops.fault(). */
#define CCMAP_GO		0
#define CCMAP_SIGBUS(err)	((__s64)-(err))	/* e.g. CCMAP_SIGBUS(EIO) */

/* Error exit with a constant reason: ccmap_error("lost the agent"). */
#define ccmap_error(reason)	bpf_ccmap_error(reason)

static __always_inline bool ccmap_is_write(const struct ccmap_fault_ctx *ctx)
{
	return ctx->access == CCMAP_ACC_WRITE;
}

/* A COW fault only reads the shared page, like a read fault. */
static __always_inline bool ccmap_is_read(const struct ccmap_fault_ctx *ctx)
{
	return ctx->access != CCMAP_ACC_WRITE;
}

/*
 * A wait key per page: faults waiting for one page share it, and the
 * agent wakes them with the same computation.  Never 0, at most 2^63 - 1.
 * Other pages may hash to the same kernel wait bucket: that costs a
 * spurious retry, never a lost wakeup.
 */
static __always_inline __u64 ccmap_page_key(__u64 dev, __u64 ino, __u64 pgoff)
{
	__u64 h = ino * 0x9e3779b97f4a7c15ULL;

	h ^= (pgoff + 0x632be59bd9b4e019ULL) * 0xc2b2ae3d27d4eb4fULL;
	h ^= dev * 0x165667b19e3779f9ULL;
	h ^= h >> 29;
	h &= 0x7fffffffffffffffULL;
	return h ? h : 1;
}

static __always_inline __u64 ccmap_fault_key(const struct ccmap_fault_ctx *ctx)
{
	return ccmap_page_key(ctx->dev, ctx->ino, ctx->pgoff);
}

/* Report an ownership change of @nr pages to the ccmap:ccmap_state event. */
static __always_inline void ccmap_trace_state(__u64 dev, __u64 ino,
					      __u64 pgoff, __u64 nr,
					      __u32 from, __u32 to)
{
	bpf_ccmap_trace_state(dev, ino, pgoff, nr, CCMAP_TRANSITION(from, to));
}

/*
 * Exit info for the loader, like sched_ext's UEI:
 *
 *	CCMAP_UEI_DEFINE(uei);
 *	void BPF_CCMAP_OPS(demo_exit, struct ccmap_exit_info *ei)
 *	{
 *		ccmap_uei_record(&uei, ei);
 *	}
 *
 * and the loader reads skel->data->uei (struct ccmap_user_exit_info).
 */
#define CCMAP_UEI_DEFINE(__name)					\
	struct ccmap_user_exit_info __name SEC(".data")

static __always_inline void
ccmap_uei_record(struct ccmap_user_exit_info *uei,
		 const struct ccmap_exit_info *ei)
{
	bpf_probe_read_kernel_str(uei->name, sizeof(uei->name), ei->name);
	bpf_probe_read_kernel_str(uei->reason, sizeof(uei->reason),
				  ei->reason);
	/* Last: user space reads it once the link reported EPOLLHUP. */
	uei->kind = ei->kind;
}

#endif /* __CCMAP_BPF_H */
