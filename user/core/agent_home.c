/* The agent's home; see agent_home.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/os.h"
#include "core/agent_home.h"

int cbpf_agent_home_paths(const char *home, const char *xdg_state, char *agent_home,
			  char *quarantine, size_t len)
{
	char state[4096];

	if (xdg_state && xdg_state[0] == '/')
		snprintf(state, sizeof(state), "%s/claude-bpf", xdg_state);
	else
		snprintf(state, sizeof(state), "%s/.local/state/claude-bpf", home);
	if ((size_t)snprintf(agent_home, len, "%s/home", state) >= len ||
	    (size_t)snprintf(quarantine, len, "%s/quarantine", state) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* Copies `from` to `to` unless `to` exists or `from` does not; no link
 * is followed at either end. */
static int seed(const char *from, const char *to)
{
	char buf[65536];
	int in, out, err = 0;
	ssize_t n;

	in = open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		return errno == ENOENT ? 0 : -errno;
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		err = errno == EEXIST ? 0 : -errno;
		close(in);
		return err;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			err = -EIO;
			break;
		}
	if (n < 0)
		err = -errno;
	if (close(out) && !err)
		err = -EIO;
	close(in);
	if (err)
		unlink(to);
	return err;
}

int cbpf_agent_home_prepare(const char *home, const char *agent_home, char *what, size_t len)
{
	static const char *const no_links[] = { ".claude", "git" };
	char from[4096], to[4096];
	struct stat st;
	int err;

	for (size_t i = 0; i < sizeof(no_links) / sizeof(no_links[0]); i++) {
		snprintf(what, len, "%s/%s", home, no_links[i]);
		if (lstat(what, &st) == 0 && S_ISLNK(st.st_mode))
			return -ELOOP;
	}
	snprintf(what, len, "%s/.claude", agent_home);
	if ((err = cbpf_mkdir_p(what)))
		return err;
	snprintf(from, sizeof(from), "%s/.claude.json", home);
	snprintf(to, sizeof(to), "%s/.claude.json", agent_home);
	snprintf(what, len, "%s", to);
	if ((err = seed(from, to)))
		return err;
	snprintf(from, sizeof(from), "%s/.claude/.credentials.json", home);
	snprintf(to, sizeof(to), "%s/.claude/.credentials.json", agent_home);
	snprintf(what, len, "%s", to);
	return seed(from, to);
}
