/* What this machine's podman says about itself, asked by running it: how it
 * places containers (its cgroup manager) and whether it runs rootless. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "base/log.h"
#include "engine/podman_host.h"

int cbpf_capture(char *const *argv, char *out, size_t len)
{
	int pipefd[2], status;
	size_t used = 0;
	ssize_t n;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -errno;
	}
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], out + used, len - 1 - used)) > 0 && used + (size_t)n < len - 1)
		used += (size_t)n;
	if (n > 0)
		used += (size_t)n;
	close(pipefd[0]);
	out[used] = '\0';
	while (used && (out[used - 1] == '\n' || out[used - 1] == '\r'))
		out[--used] = '\0';
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int cbpf_podman_host(bool *systemd, bool *rootless)
{
	char *argv[] = { "podman", "info", "--format",
			 "{{.Host.CgroupManager}} {{.Host.Security.Rootless}}", NULL };
	char info[256];
	int rc = cbpf_capture(argv, info, sizeof(info));

	if (rc == 127 || rc == -ENOENT)
		return -ENOENT;
	if (rc)
		return rc < 0 ? rc : -ECHILD;
	*systemd = strncmp(info, "systemd", 7) == 0;
	*rootless = strstr(info, "true") != NULL;
	return 0;
}

void cbpf_podman_host_error(int err)
{
	if (err == -ENOENT)
		cbpf_error("podman is not installed (sudo apt-get install podman)");
	else if (err == -ECHILD)
		cbpf_error("'podman info' failed; check that podman works: "
			   "podman run --rm IMAGE true");
	else
		cbpf_error("cannot run 'podman info': %s", strerror(-err));
}
