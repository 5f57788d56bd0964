/* The C baseline of benches/lttng_vs_c.rs: one LTTng-UST tracepoint written with the real
 * lttng_ust_tracepoint macros, with the same payload as the cotrace-ust event it is compared
 * with (u64, u32, string). */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER bench_c

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./bench_tp.h"

#if !defined(BENCH_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define BENCH_TP_H

#include <stdint.h>
#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT(
	bench_c,
	ev,
	LTTNG_UST_TP_ARGS(uint64_t, n, uint32_t, k, const char *, msg),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, n, n)
		lttng_ust_field_integer(uint32_t, k, k)
		lttng_ust_field_string(msg, msg)
	)
)
LTTNG_UST_TRACEPOINT_LOGLEVEL(bench_c, ev, LTTNG_UST_TRACEPOINT_LOGLEVEL_INFO)

#endif

#include <lttng/tracepoint-event.h>
