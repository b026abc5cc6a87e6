/* A policy's background process: the refresher of a file's hostnames, or
 * the address watcher of the built-in internet policy. One per policy,
 * held by a lock on its pid file (CBPF_RUNFILE_PID, which holds its pid);
 * load and unload stop it before they change the policy. Also the lock
 * that serialises load and unload (CBPF_RUNFILE_LOCK). */
#ifndef CBPF_DAEMON_H
#define CBPF_DAEMON_H

#include <stdbool.h>

/* Runs loop(ctx, sfd) as policy `name`'s background process, sfd a
 * signalfd for SIGTERM, SIGINT and SIGHUP, until it returns its exit
 * status. `what` names it in the log. With `detach`, forks a daemon that
 * logs to syslog and returns 0 at once (the daemon never returns); else
 * runs here, logging to stderr (for journald), and returns loop's status,
 * or 1 when another process holds the pid file. Releases the global lock
 * first: the process outlives the load that started it. */
int cbpf_daemon_run(const char *name, const char *what, bool detach,
		    int (*loop)(void *ctx, int sfd), void *ctx);

/* Stops policy `name`'s background process, if one runs, and waits for it
 * to go. Returns 0 or -errno. */
int cbpf_daemon_stop(const char *name);

/* The pid of policy `name`'s background process while it runs, else 0. */
long cbpf_daemon_pid(const char *name);

/* Serialises load and unload: held until the process exits or calls
 * cbpf_unlock_global. tries: 0 waits as long as it takes, else that many
 * 20 ms attempts (-EBUSY after them). Returns 0 or -errno. */
int cbpf_lock_global(int tries);
void cbpf_unlock_global(void);

#endif
