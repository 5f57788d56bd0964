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

/* The leanest pair of peers for one event in both tracers (benches/facade_enabled.rs compares
 * cotrace::fire! with it): the tracepoint above, and the same values written to user_events
 * the way hand-written C does it, with its own descriptor, its own enable word and one writev
 * of a header built on the stack plus the string. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

/* struct user_reg and DIAG_IOCSREG of include/uapi/linux/user_events.h (Linux 6.4+), spelt out
 * because Debian 12's linux-libc-dev (6.1) predates the header. */
struct bench_user_reg {
	uint32_t size;
	uint8_t enable_bit;
	uint8_t enable_size;
	uint16_t flags;
	uint64_t enable_addr;
	uint64_t name_args;
	uint32_t write_index;
} __attribute__((__packed__));
#define BENCH_DIAG_IOCSREG _IOWR('*', 0, struct bench_user_reg *)

static int pair_fd = -1;
static uint32_t pair_write_index;
/* Bit 31 is set by the kernel while the event is enabled (the process never stores to it). */
static uint32_t pair_enabled;

/* Registers `name_args` (e.g. "benchc_ev u64 n; u32 k; __data_loc char[] msg") through
 * `user_events_data`: 0, or -errno. */
int bench_c_pair_register(const char *user_events_data, const char *name_args)
{
	struct bench_user_reg reg = {
		.size = sizeof(reg),
		.enable_bit = 31,
		.enable_size = sizeof(pair_enabled),
		.enable_addr = (uint64_t) (uintptr_t) &pair_enabled,
		.name_args = (uint64_t) (uintptr_t) name_args,
	};
	int fd = open(user_events_data, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, BENCH_DIAG_IOCSREG, &reg) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	pair_fd = fd;
	pair_write_index = reg.write_index;
	return 0;
}

/* The pair's user_events enable word. */
uint32_t bench_c_pair_word(void)
{
	return __atomic_load_n(&pair_enabled, __ATOMIC_RELAXED);
}

/* Fires the pair `iters` times: the tracepoint (its own check), then, while the kernel's bit is
 * set, one writev of [write index | n | k | msg's __data_loc] and msg with its NUL. The
 * __data_loc word is the string's size << 16 | its offset in the kernel's record (8-byte common
 * header + the 16-byte fixed part). */
void bench_c_pair_loop(uint64_t iters, const char *msg)
{
	for (uint64_t i = 0; i < iters; i++) {
		lttng_ust_tracepoint(bench_c, ev, i, (uint32_t) i, msg);
		if (__builtin_expect(__atomic_load_n(&pair_enabled, __ATOMIC_RELAXED) != 0, 0)) {
			uint32_t len = (uint32_t) strlen(msg) + 1;
			struct {
				uint32_t index;
				uint64_t n;
				uint32_t k;
				uint32_t loc;
			} __attribute__((__packed__)) header = {
				pair_write_index, i, (uint32_t) i, len << 16 | (8 + 16),
			};
			struct iovec iov[2] = {
				{ .iov_base = &header, .iov_len = sizeof(header) },
				{ .iov_base = (void *) msg, .iov_len = len },
			};

			writev(pair_fd, iov, 2);
		}
		__asm__ __volatile__("" ::: "memory");
	}
}
