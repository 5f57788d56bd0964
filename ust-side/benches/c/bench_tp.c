/* Built at run time by benches/lttng_vs_c.rs into a shared object (linked to liblttng-ust, as
 * a C application would be) and loaded with dlopen. The loop runs inside C so the C side pays
 * no call per iteration, exactly like an instrumented C program. */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "bench_tp.h"

/* Fires the tracepoint `iters` times. The empty asm is a compiler barrier so the disabled check
 * is done every iteration (the Rust loop has the same barrier). */
void bench_c_loop(uint64_t iters, const char *msg)
{
	for (uint64_t i = 0; i < iters; i++) {
		lttng_ust_tracepoint(bench_c, ev, i, (uint32_t) i, msg);
		__asm__ __volatile__("" ::: "memory");
	}
}

/* Whether any session has the tracepoint enabled. */
int bench_c_enabled(void)
{
	return lttng_ust_tracepoint_enabled(bench_c, ev);
}
