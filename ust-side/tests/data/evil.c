/* The library of tests/secure.rs: its constructor creates the file COTRACE_TEST_MARKER names.
 * Compiled by the test with `cc`, or (for a cross-built test run in the arm64 guest, which has
 * no compiler) beforehand on the host by scripts/test-arm64.sh with aarch64-linux-gnu-gcc and
 * handed over in COTRACE_TEST_EVIL_LIB. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void cotrace_test_evil(void) {
    const char *path = getenv("COTRACE_TEST_MARKER");
    if (path) {
        int fd = open(path, O_CREAT | O_WRONLY, 0644);
        if (fd >= 0) close(fd);
    }
}
