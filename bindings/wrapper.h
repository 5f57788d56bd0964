/* Input of bindgen for cotrace-lttng-sys (see regen.sh). Only the headers whose ABI cotrace uses. */
#include <signal.h>
#include <lttng/tracepoint-types.h>
#include <lttng/tracepoint.h>
#include <lttng/ust-events.h>
#include <lttng/ust-ringbuffer-context.h>
#include <lttng/ust-fork.h>
