# shellcheck shell=bash
# Podman for the integration tests, sourced by t_95_podman.sh: the tests' own
# containers.conf, storage and network configuration (nothing in
# /etc/containers or in the host's image store is touched), a dual-stack
# bridge network in the test address ranges, and a busybox image with the
# probe and a fake `claude` that prints its arguments one per line.
#
#   container network  bridge cbtbr<pid>  10.231.88.0/24  fd42:231:88::/64
#                      (the default network of the tests' containers.conf;
#                      netavark masquerades what leaves it, and srv also has
#                      routes back through the host's veth)

PROBE_STATIC=${PROBE_STATIC:-$ROOT/$BUILD/tests/probe-static}
PM_IMAGE=localhost/cbt-busybox:latest
PM_NET=cbt-net
PM_BRIDGE=cbtbr$$
PM_V4_SUBNET=10.231.88.0/24
PM_V4_GW=10.231.88.1
PM_V6_SUBNET=fd42:231:88::/64
PM_V6_GW=fd42:231:88::1
PM_SYSCTLS=(net.ipv4.ip_forward net.ipv6.conf.all.forwarding)
# The tests' podman cgroup manager (vmtest's systemd tests set systemd).
PM_CGROUP_MANAGER=${PM_CGROUP_MANAGER:-cgroupfs}

PM_DIR=""               # $T/podman: configuration, storage, homes, work dirs
PM_STATE=""             # "", up, or the reason the podman tests cannot run
PM_BUSYBOX=""
PM_SEQ=0
PM_HOME=""              # the home pm_new_home made last
PM_POLICIES=()          # policies whose cgroups podman may have made
PM_ENV=()               # NAME=VALUE assignments pm_run adds
PM_PATH=$PATH           # the PATH pm_run gives claude-bpf run
PM_HOME_CHECK=""        # "ok", or why run does not use the tests' HOME
PM_USER=cbt-agent       # the agent's user: owns the tests' homes and work dirs
PM_USER_MADE=""         # true when the set-up added PM_USER
declare -A PM_SYSCTL_SAVED

# pm_preconditions: true when podman can run here; else PM_STATE says why.
pm_preconditions() {
	local b

	if ! command -v podman >/dev/null; then
		PM_STATE="no podman (install the Debian package podman)"
		return 1
	fi
	if ! command -v runc >/dev/null && [[ ! -x /usr/sbin/runc ]]; then
		PM_STATE="no runc (install the Debian package runc; crun refuses hybrid cgroups)"
		return 1
	fi
	if ! command -v iptables >/dev/null && [[ ! -x /usr/sbin/iptables ]]; then
		PM_STATE="no iptables (install the Debian package iptables; netavark needs it for bridge networks)"
		return 1
	fi
	for b in /bin/busybox /usr/bin/busybox; do
		if [[ -x $b ]] && LC_ALL=C ldd "$b" 2>&1 | grep -qE 'not a dynamic executable|statically linked'; then
			PM_BUSYBOX=$b
			break
		fi
	done
	if [[ -z $PM_BUSYBOX ]]; then
		PM_STATE="no statically linked busybox (install the Debian package busybox-static)"
		return 1
	fi
	if [[ ! -x $PROBE_STATIC ]]; then
		PM_STATE="$PROBE_STATIC is not built (make $BUILD/tests/probe-static)"
		return 1
	fi
}

# The tests' containers.conf: runc (crun refuses hybrid cgroups), no default
# ulimits (without CAP_SYS_RESOURCE podman's defaults make runc fail), the
# cgroupfs manager unless PM_CGROUP_MANAGER says otherwise (t_95 gives
# --cgroup-parent as a path; on a systemd host podman would default to
# systemd), and podman's temporary files, network definitions and default
# network ours, apart from the host's podman. PM_HOSTILE_CONF is the same
# with what a site's containers.conf could set to undo the sandbox: the
# host's network and cgroup namespaces, no seccomp profile, more
# capabilities. run must give every container what it needs all the same.
PM_HOSTILE_CONF=""
pm_conf() {
	local f

	PM_HOSTILE_CONF=$PM_DIR/containers-hostile.conf
	for f in "$PM_DIR/containers.conf" "$PM_HOSTILE_CONF"; do
		cat >"$f" <<-EOF
		[containers]
		default_ulimits = []
		$([[ $f == "$PM_HOSTILE_CONF" ]] && printf '%s\n' 'netns = "host"' 'cgroupns = "host"' \
			'seccomp_profile = "unconfined"' \
			'default_capabilities = ["CHOWN", "NET_RAW", "NET_ADMIN", "SYS_ADMIN"]')
		[engine]
		runtime = "runc"
		cgroup_manager = "$PM_CGROUP_MANAGER"
		tmp_dir = "$PM_DIR/tmp"
		[network]
		network_config_dir = "$PM_DIR/networks"
		default_network = "$PM_NET"
		EOF
	done
}

# The network, written as podman 4.3 writes it (`podman network create` has
# no --interface-name there, and the bridge must not take a podmanN name
# that the host's own podman networks may use).
pm_write_network() {
	local id

	id=$(printf 'cbt-net-%s' "$$" | sha256sum | cut -c1-64)
	cat >"$PM_DIR/networks/$PM_NET.json" <<-EOF
	{
	  "name": "$PM_NET",
	  "id": "$id",
	  "driver": "bridge",
	  "network_interface": "$PM_BRIDGE",
	  "created": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
	  "subnets": [
	    { "subnet": "$PM_V4_SUBNET", "gateway": "$PM_V4_GW" },
	    { "subnet": "$PM_V6_SUBNET", "gateway": "$PM_V6_GW" }
	  ],
	  "ipv6_enabled": true,
	  "internal": false,
	  "dns_enabled": false,
	  "ipam_options": { "driver": "host-local" }
	}
	EOF
}

# pm_rootfs DIR BUSYBOX: a root file system for a test image in DIR: every
# busybox applet, /bin/bash a shell script, the static probe, root in
# passwd and group.
pm_rootfs() {
	local r=$1 a

	mkdir -p "$r"/{bin,etc,tmp,proc,sys,dev,root,usr/local/bin} || return 1
	cp "$2" "$r/bin/busybox" || return 1
	for a in $("$r/bin/busybox" --list); do
		[[ $a == busybox || -e $r/bin/$a ]] || ln -s busybox "$r/bin/$a" || return 1
	done
	rm -f "$r/bin/bash"
	printf '#!/bin/sh\nexec /bin/sh "$@"\n' >"$r/bin/bash"
	cp "$PROBE_STATIC" "$r/usr/local/bin/probe" || return 1
	chmod 755 "$r/bin/bash" "$r/usr/local/bin/probe"
	chmod 1777 "$r/tmp"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
	printf 'root:x:0:\n' >"$r/etc/group"
}

# The image: pm_rootfs, a fake claude, a test user.
pm_make_image() {
	local r=$PM_DIR/rootfs

	pm_rootfs "$r" "$PM_BUSYBOX" && mkdir -p "$r/home/cbt" || return 1
	printf '#!/bin/sh\nfor a in "$@"; do printf "%%s\\n" "$a"; done\n' >"$r/usr/local/bin/claude"
	chmod 755 "$r/usr/local/bin/claude"
	printf 'cbt:x:1000:1000:cbt:/home/cbt:/bin/sh\n' >>"$r/etc/passwd"
	printf 'cbt:x:1000:\n' >>"$r/etc/group"
	tar --numeric-owner -C "$r" -c . | podman import -q - "$PM_IMAGE" >/dev/null
}

# pm_setup: configuration, network and image; sets PM_STATE.
pm_setup() {
	local s out

	PM_DIR=$T/podman
	mkdir -p "$PM_DIR"/{tmp,networks,storage,run,homes,work} || return 1
	CLEANUP_HOOKS+=(pm_cleanup)
	# The agent's user: run started by root runs the agent as the owner of
	# the current directory, never as root. pm_new_home makes its home.
	if ! id -u "$PM_USER" >/dev/null 2>&1; then
		useradd --system --no-create-home --home-dir "$PM_DIR/homes" \
			--shell /usr/sbin/nologin "$PM_USER" || return 1
		PM_USER_MADE=true
	fi
	for s in "${PM_SYSCTLS[@]}"; do
		PM_SYSCTL_SAVED[$s]=$(sysctl -n "$s") || return 1
	done
	# A store of our own: the host's images and containers stay untouched,
	# `podman ps -a` sees only the tests' containers, cleanup removes it whole.
	cat >"$PM_DIR/storage.conf" <<-EOF
	[storage]
	driver = "overlay"
	runroot = "$PM_DIR/run"
	graphroot = "$PM_DIR/storage"
	EOF
	pm_write_network
	pm_conf
	export CONTAINERS_CONF=$PM_DIR/containers.conf
	export CONTAINERS_STORAGE_CONF=$PM_DIR/storage.conf
	if ! out=$(podman info --format '{{.Host.NetworkBackend}}' 2>&1); then
		say "podman info failed: $out"
		return 1
	fi
	if [[ $out != netavark ]]; then
		say "podman uses the network backend '$out'; these tests need netavark (install the Debian package netavark)"
		return 1
	fi
	if ! out=$(pm_make_image 2>&1); then
		say "making the image $PM_IMAGE failed: $out"
		return 1
	fi
	# Replies to the container network, should netavark not masquerade.
	net_do ip -n "$NS_SRV" route replace "$PM_V4_SUBNET" via "$HOST_V4" &&
		net_do ip -n "$NS_SRV" -6 route replace "$PM_V6_SUBNET" via "$HOST_V6" || return 1
	PM_STATE=up
}

# Removes a policy's cgroups that podman made in the cgroup v1 hierarchies
# (claude-bpf unload removes the cgroup2 one).
pm_remove_v1_cgroups() {
	local mnt name d

	# mountinfo: ... mount-point ... - cgroup ...
	for mnt in $(awk '{ for (i = 1; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup") print $5; break } }' /proc/self/mountinfo); do
		for name in "${PM_POLICIES[@]}"; do
			d=$mnt/claude-bpf/$name
			[[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
		done
		rmdir "$mnt/claude-bpf" 2>/dev/null
	done
}

pm_cleanup() {
	local m s

	[[ -n $PM_DIR ]] || return 0
	if [[ -n ${CONTAINERS_CONF:-} && -d $PM_DIR/storage ]]; then
		timeout -k 5 60 podman rm -a -f -t 0 >/dev/null 2>&1
		timeout -k 5 60 podman rmi -a -f >/dev/null 2>&1
	fi
	ip link del "$PM_BRIDGE" 2>/dev/null
	# Whatever podman left mounted in its storage, deepest first.
	while read -r m; do
		umount -l "$m" 2>/dev/null
	done < <(awk -v d="$PM_DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
	rm -rf --one-file-system "$PM_DIR"
	for s in "${!PM_SYSCTL_SAVED[@]}"; do
		sysctl -qw "$s=${PM_SYSCTL_SAVED[$s]}"
	done
	PM_SYSCTL_SAVED=()
	if [[ ${PM_USER_MADE:-} == true ]]; then
		userdel "$PM_USER" 2>/dev/null
		PM_USER_MADE=""
	fi
	pm_remove_v1_cgroups
	unset CONTAINERS_CONF CONTAINERS_STORAGE_CONF
	PM_DIR=""
	PM_STATE=""
}

# pm_start: in a file's set-up test, the podman set-up and the file's
# policy PM_POLICY loaded (main.conf, DNS on the tests' bridge). True when
# both are up; otherwise the test is skipped (no podman here) or failed,
# and PM_STATE says why for the tests after it.
pm_start() {
	if ! pm_preconditions; then
		skip "$PM_STATE"
	elif ! pm_setup; then
		PM_STATE="the podman set-up failed (see its test)"
		fail "see the messages above"
	elif ! load_policy "$PM_POLICY" --dns-bridge "$PM_V4_GW" "$T/conf/main.conf"; then
		PM_STATE="the policy $PM_POLICY did not load (see the set-up test)"
	else
		PM_POLICIES+=("$PM_POLICY")
		return 0
	fi
	return 1
}

# pm_ready: true when the podman set-up worked; otherwise skips the test.
pm_ready() {
	[[ $PM_STATE == up ]] && return 0
	skip "${PM_STATE:-the podman set-up did not run}"
	return 1
}

# pm_have_run: the run command exists; otherwise the test fails.
pm_have_run() {
	local out

	if ! out=$("$CBPF" run --help 2>&1); then
		fail "claude-bpf has no working 'run' command: $out"
		return 1
	fi
}

# pm_home_used: true when run gives the container the HOME it was given
# (the tests' temporary homes); otherwise fails the test without running
# anything, so that nothing is written into the real home.
pm_home_used() {
	local saved=$PM_HOME saved_dir=${DIR:-} home

	if [[ -z $PM_HOME_CHECK ]]; then
		pm_new_home
		pm_new_dir
		pm_run "$DIR" --dry-run --policy "$PM_POLICY" --image "$PM_IMAGE" --shell
		if ((RC == 0)) && [[ $OUT == *" --env=HOME=$PM_HOME "* ]]; then
			PM_HOME_CHECK=ok
		else
			home=$(grep -o -- ' --env=HOME=[^ ]*' <<<"$OUT")
			PM_HOME_CHECK="run does not use the home of the user it runs the agent as: with $PM_HOME its podman command has '${home# }' ($(ran)); not run"
		fi
		PM_HOME=$saved
		DIR=$saved_dir
		[[ -n $PM_HOME ]] && usermod --home "$PM_HOME" "$PM_USER"
	fi
	[[ $PM_HOME_CHECK == ok ]] && return 0
	fail "$PM_HOME_CHECK"
	return 1
}

# pm_new_dir: a fresh directory, in DIR.
pm_new_dir() {
	PM_SEQ=$((PM_SEQ + 1))
	DIR=$PM_DIR/work/d$PM_SEQ
	mkdir -p "$DIR"
	pm_own "$DIR"
}

# pm_own PATH...: PATH (and what it holds) owned by the agent's user, as a
# user's project is.
pm_own() {
	chown -R "$PM_USER:$PM_USER" "$@"
}

# pm_new_home: a fresh home without ~/.claude, ~/.claude.json or ~/git, in
# PM_HOME, the passwd home of PM_USER (run started by root takes the home
# of the user it runs the agent as).
pm_new_home() {
	PM_SEQ=$((PM_SEQ + 1))
	PM_HOME=$PM_DIR/homes/h$PM_SEQ
	mkdir -p "$PM_HOME"
	pm_own "$PM_HOME"
	usermod --home "$PM_HOME" "$PM_USER"
}

# The suite's hosts run's selftest aims at (never its default documentation
# addresses): no rule of the tests' policies allows them.
PM_SELFTEST=(--selftest-target 10.231.2.11 --selftest-target fd42:231:2::11)

# pm_run DIR ARGS...: claude-bpf run ARGS... in DIR with HOME=$PM_HOME, as
# root (not through sudo), without a terminal; sets RC, OUT, ERR.
pm_run() {
	local dir=$1

	shift
	run env -u SUDO_USER -u SUDO_UID -u SUDO_GID -C "$dir" PWD="$dir" \
		HOME="$PM_HOME" PATH="$PM_PATH" "${PM_ENV[@]}" "$CBPF" run "${PM_SELFTEST[@]}" "$@" </dev/null
}

# pm_shell DIR SCRIPT [ARGS...]: sh -c SCRIPT in the image, under the
# podman tests' policy.
pm_shell() {
	local dir=$1 script=$2

	shift 2
	pm_run "$dir" --policy "$PM_POLICY" --image "$PM_IMAGE" --shell -- -c "$script" sh "$@"
}

# What a held container's script runs where the host may look at it:
# "started", then a wait until the host touches "go" (20 s at most).
PM_HOLD='touch started; i=0
	while [ ! -e go ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done'

# pm_hold DIR SCRIPT [ARGS...]: pm_shell DIR SCRIPT in the background, its
# SCRIPT holding at $PM_HOLD; back once it holds there or its run ended
# (20 s at most). PM_RUNNING_IDS are the running containers, PM_HELD the
# latest, PM_HELD_INIT its first process and PM_HELD_CGROUP that process's
# cgroup as the host sees it ("0::/path": run gives a container a cgroup
# namespace of its own, where it sees only "0::/"); all empty unless it
# started. pm_release lets it go on.
pm_hold() {
	local dir=$1 script=$2 i

	shift 2
	rm -f "$dir/started" "$dir/go" "$dir.rc"
	(
		pm_shell "$dir" "$script" "$@"
		echo "$RC" >"$dir.rc"
	) &
	PM_HOLD_BG=$!
	PM_HOLD_DIR=$dir
	BG_PIDS+=("$PM_HOLD_BG")
	for ((i = 0; i < 400; i++)); do
		[[ -e $dir/started ]] && break
		kill -0 "$PM_HOLD_BG" 2>/dev/null || break
		sleep 0.05
	done
	PM_RUNNING_IDS="" PM_HELD="" PM_HELD_INIT="" PM_HELD_CGROUP=""
	[[ -e $dir/started ]] || return 0
	# shellcheck disable=SC2034 # for the test files
	PM_RUNNING_IDS=$(podman ps -q --no-trunc 2>/dev/null)
	PM_HELD=$(podman ps -l -q --no-trunc 2>/dev/null) && [[ -n $PM_HELD ]] || return 0
	PM_HELD_INIT=$(podman inspect --format '{{.State.Pid}}' "$PM_HELD" 2>/dev/null)
	PM_HELD_CGROUP=$(grep '^0::' "/proc/$PM_HELD_INIT/cgroup" 2>/dev/null)
}

# pm_release: the held container goes on; RC, OUT and ERR of its run once
# it has ended.
pm_release() {
	touch "$PM_HOLD_DIR/go"
	wait "$PM_HOLD_BG"
	RC=$(cat "$PM_HOLD_DIR.rc" 2>/dev/null || echo 255)
	OUT=$(<"$T/run/out")
	ERR=$(<"$T/run/err")
}

# pm_shell_seen DIR SCRIPT [ARGS...]: pm_shell, with the container's cgroup
# as the host sees it ("0::/path") first in OUT: the host reads it while
# the container holds before SCRIPT.
pm_shell_seen() {
	local dir=$1 script=$2

	shift 2
	pm_hold "$dir" "$PM_HOLD"$'\n'"$script" "$@"
	pm_release
	OUT=${PM_HELD_CGROUP:-"(no cgroup seen from the host)"}$'\n'$OUT
}

# pm_containers: the number of containers in the tests' podman store.
pm_containers() {
	podman ps -a -q | wc -l
}
