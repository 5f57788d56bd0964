/* The C side of benches/disabled.rs: the C LTTng-UST tracepoint of ust-side/benches/c/bench_tp.h
 * (u64, u32, string, written with the real lttng_ust_tracepoint macros), fired in a loop that
 * runs in C, and the same loop without the tracepoint (the C baseline). Built at run time into a
 * shared object linked to liblttng-ust, loaded with dlopen. */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "bench_tp.h"

/* The empty asm is a compiler barrier, so each iteration does the check (the Rust loops use
 * std::hint::black_box on the counter for the same reason). */
void cmp_c_loop_lttng(uint64_t iters, const char *msg)
{
	for (uint64_t i = 0; i < iters; i++) {
		lttng_ust_tracepoint(bench_c, ev, i, (uint32_t) i, msg);
		__asm__ __volatile__("" ::: "memory");
	}
}

void cmp_c_loop_empty(uint64_t iters, const char *msg)
{
	(void) msg;
	for (uint64_t i = 0; i < iters; i++) {
		__asm__ __volatile__("" ::: "memory");
	}
}
