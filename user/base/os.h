/* The system's clocks and files, for every layer. */
#ifndef CBPF_OS_H
#define CBPF_OS_H

#include <stdint.h>
#include <time.h>

/* A clock in nanoseconds. */
uint64_t cbpf_clock_ns(clockid_t clk);
/* CLOCK_BOOTTIME: the clock of the programs' expiries (bpf_ktime_get_boot_ns). */
uint64_t cbpf_boottime_ns(void);

/* The whole text of a file, NUL-terminated; NULL with errno set (EILSEQ:
 * it holds a NUL byte). */
char *cbpf_read_file(const char *path);

/* mkdir -p, each new folder 0700 (private: the agent's home, the
 * quarantine). 0 or -errno. */
int cbpf_mkdir_p(const char *path);

#endif
