/* The agent's home: a folder of the user's on the host, mounted read-write
 * at $HOME in the container, kept from one run to the next. Claude Code's
 * login, history and settings live there, so its locked, atomic saves work
 * (they make files beside ~/.claude.json), and nothing the agent writes
 * there is read by the host's Claude Code: the host's ~/.claude and
 * ~/.claude.json are never mounted. The first run copies the login in. */
#ifndef CBPF_AGENT_HOME_H
#define CBPF_AGENT_HOME_H

#include <stddef.h>

/* <state>/claude-bpf/home and <state>/claude-bpf/quarantine, where state is
 * `xdg_state` ($XDG_STATE_HOME) when absolute, else <home>/.local/state. */
int cbpf_agent_home_paths(const char *home, const char *xdg_state, char *agent_home,
			  char *quarantine, size_t len);

/* Makes the agent's home (0700) and, where it has none yet, copies in the
 * host's ~/.claude.json and ~/.claude/.credentials.json (0600). Refuses a
 * ~/.claude or ~/git that is a symbolic link (-ELOOP). Call as the user.
 * 0, or -errno with `what` naming the path. */
int cbpf_agent_home_prepare(const char *home, const char *agent_home, char *what, size_t len);

#endif
