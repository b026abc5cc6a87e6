/* A policy's background process: started detached or in the foreground,
 * one per policy by the lock on its pid file, stopped by load and unload;
 * and the global lock. The flock(2) semantics of both files are here,
 * their paths runstate.c's. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include "base/log.h"
#include "base/runstate.h"
#include "engine/daemon.h"

static int global_lock = -1;

int cbpf_lock_global(int tries)
{
	char path[PATH_MAX];
	int fd;

	if ((fd = cbpf_runstate_path(path, sizeof(path), NULL, CBPF_RUNFILE_LOCK)) ||
	    (fd = cbpf_runstate_dir()))
		return fd;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	for (int i = 0; flock(fd, tries ? LOCK_EX | LOCK_NB : LOCK_EX); i++) {
		if (errno != EWOULDBLOCK || i + 1 >= tries) {
			int err = errno == EWOULDBLOCK ? -EBUSY : -errno;

			close(fd);
			return err;
		}
		usleep(20000);
	}
	global_lock = fd;
	return 0;
}

void cbpf_unlock_global(void)
{
	if (global_lock >= 0)
		close(global_lock);
	global_lock = -1;
}

long cbpf_daemon_pid(const char *name)
{
	char path[PATH_MAX], buf[32] = "";
	long pid = 0;
	int fd;

	if (cbpf_runstate_path(path, sizeof(path), name, CBPF_RUNFILE_PID))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	/* Held: it runs. A pid file nobody holds is one that died. */
	if (flock(fd, LOCK_SH | LOCK_NB) && errno == EWOULDBLOCK) {
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

		pid = n > 0 ? strtol(buf, NULL, 10) : 0;
	}
	close(fd);
	return pid;
}

int cbpf_daemon_stop(const char *name)
{
	char path[PATH_MAX];
	long pid;
	int fd = cbpf_runstate_path(path, sizeof(path), name, CBPF_RUNFILE_PID);

	if (fd)
		return fd;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	pid = cbpf_daemon_pid(name);
	if (pid > 1)
		kill((pid_t)pid, SIGTERM);
	/* A refresher waiting on a dead DNS server answers late: 10 s, then
	 * it is killed (what it holds is in the kernel already). */
	for (int i = 0; i < 750; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			unlink(path);
			close(fd);
			return 0;
		}
		if (i == 500 && pid > 1)
			kill((pid_t)pid, SIGKILL);
		usleep(20000);
	}
	close(fd);
	return -ETIMEDOUT;
}

/* Takes the policy's pid file; fails when another process holds it. */
static int take_pid_file(const char *name)
{
	char path[PATH_MAX], buf[32];
	int fd, n;

	if ((fd = cbpf_runstate_path(path, sizeof(path), name, CBPF_RUNFILE_PID)) ||
	    (fd = cbpf_runstate_dir()))
		return fd;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		return -EBUSY;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, buf, (size_t)n, 0) != n) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* In the caller: 1 when the daemon's parent returns (the caller goes on),
 * 0 in the daemon, -errno when it cannot fork. */
static int detach_here(void)
{
	pid_t pid = fork();
	int status, null;

	if (pid < 0)
		return -errno;
	if (pid > 0) {   /* the caller goes on; the daemon is the grandchild */
		waitpid(pid, &status, 0);
		return 1;
	}
	if (setsid() < 0 || (pid = fork()) < 0)
		_exit(1);
	if (pid > 0)
		_exit(0);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
	}
	if (chdir("/"))
		_exit(1);
	cbpf_log_to_syslog("claude-bpf");
	return 0;
}

int cbpf_daemon_run(const char *name, const char *what, bool detach,
		    int (*loop)(void *ctx, int sfd), void *ctx)
{
	sigset_t mask;
	int pidfd, sfd, rc = 1;

	if (detach && (rc = detach_here())) {
		if (rc < 0)
			cbpf_error("policy '%s': cannot start its %s: %s", name, what,
				   strerror(-rc));
		return rc < 0;
	}
	cbpf_unlock_global();
	pidfd = take_pid_file(name);
	if (pidfd < 0) {
		cbpf_error("policy '%s': %s", name, pidfd == -EBUSY ?
			   "another background process runs for it" : strerror(-pidfd));
		rc = 1;
		goto out;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		cbpf_error("policy '%s': cannot watch signals: %s", name, strerror(errno));
		rc = 1;
	} else {
		cbpf_info("policy '%s': %s started", name, what);
		rc = loop(ctx, sfd);
		close(sfd);
	}
	cbpf_runstate_file_remove(name, CBPF_RUNFILE_PID);
	close(pidfd);
out:
	if (detach)
		_exit(rc);
	return rc;
}
