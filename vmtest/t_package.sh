# shellcheck shell=bash
# The Debian package (make deb) on the vmtest guest, as a user of a systemd
# machine gets it: dpkg -i with nothing downloaded (every Depends is in the
# guest already), the unit installed and not enabled, the service enabled
# from the package and enforcing the conffile's allowlist, one `claude-bpf
# run` of the installed binary with a real container held by that policy,
# then dpkg -r (which unloads the policy, keeps the conffile) and dpkg -P
# (which removes it).
# Sourced by tests/integration/run, after lib.sh:
#   tests/integration/run vmtest/t_package.sh
# The script for the container is single-quoted on purpose:
# shellcheck disable=SC2016

# `claude-bpf run` below uses policy default, which the package's unit loads
# where this machine's podman places containers (--cgroup-manager podman):
# the guest's podman uses the systemd manager, so the policy is the slice
# claudebpf-default.slice, and the tests' containers.conf gives podman that
# manager too.
PM_CGROUP_MANAGER=systemd
# shellcheck source=../tests/integration/podman.sh
. "$ROOT/tests/integration/podman.sh"

PKG_BIN=/usr/sbin/claude-bpf
PKG_CONF=/etc/claude-bpf/allowed-hosts.conf
PKG_POLICY=default
PKG_VERSION=$("$ROOT/$BUILD/claude-bpf" --version | cut -d' ' -f2)
PKG_DEB=""
PKG_STATE=""            # "", installed, up (the service enforces), removed
PKG_PID=0

# pkg_with CMD...: CMD with $CBPF the installed binary (the harness's
# helpers, try_allowed, pm_run..., run "$CBPF").
pkg_with() {
	local CBPF=$PKG_BIN
	"$@"
}

pkg_status() {
	dpkg-query -W -f='${Status}' claude-bpf 2>/dev/null
}

# pkg_run_ok CMD...: run CMD (RC, OUT, ERR); true when it exited 0.
pkg_run_ok() {
	run "$@"
	((RC == 0))
}

# Whatever failed: the service stopped and disabled, the policy unloaded
# (by force: the purge's prerm would refuse a policy with processes
# inside), the package purged.
pkg_cleanup() {
	[[ -n $PKG_STATE ]] || return 0
	systemctl disable --now claude-bpf >/dev/null 2>&1
	systemctl reset-failed claude-bpf >/dev/null 2>&1
	if [[ -e /sys/fs/bpf/claude-bpf ]] &&
		timeout -k 5 30 "$CBPF" status --json "$PKG_POLICY" >/dev/null 2>&1; then
		timeout -k 5 30 "$CBPF" unload --force "$PKG_POLICY" >/dev/null 2>&1 ||
			say "cleanup: $CBPF unload --force $PKG_POLICY failed" >&2
	fi
	if [[ -n $(pkg_status) ]]; then
		timeout -k 5 120 dpkg -P --force-all claude-bpf >"$T/purge.out" 2>&1 ||
			say "cleanup: dpkg -P --force-all claude-bpf failed: $(<"$T/purge.out")" >&2
	fi
	PKG_STATE=""
}

# pkg_ready STATE...: true when the package got as far as one of STATEs;
# otherwise skips the test, saying why.
pkg_ready() {
	local s

	for s in "$@"; do
		[[ $PKG_STATE == "$s" ]] && return 0
	done
	skip "${PKG_WHY:-an earlier package test failed}"
	return 1
}

# pkg_wait_refresher: true once the unit runs and status reports its
# MainPID as the refresher of policy default (60 s at most: software
# emulation is slow); sets PKG_PID.
pkg_wait_refresher() {
	local deadline=$((SECONDS + 60)) pid

	while ((SECONDS < deadline)); do
		PKG_PID=$(systemctl show -P MainPID claude-bpf)
		if [[ $PKG_PID != 0 ]]; then
			run "$PKG_BIN" status --json "$PKG_POLICY"
			pid=$(jq -r '.policies[0].refresher.pid // 0' <<<"$OUT" 2>/dev/null | head -n 1)
			[[ $pid == "$PKG_PID" ]] && return 0
		fi
		sleep 0.2
	done
	fail "the service did not come up as the refresher of $PKG_POLICY within 60 s (MainPID ${PKG_PID:-?}): $(systemctl status --no-pager claude-bpf 2>&1 | tail -n 8); status: $(ran)"
	return 1
}

# pkg_denied_total: every deny counter of policy default, summed, in COUNT.
pkg_denied_total() {
	run "$PKG_BIN" status --json "$PKG_POLICY"
	COUNT=$(jq -r --arg n "$PKG_POLICY" \
		'.policies[] | select(.name == $n) | [.denied[]] | add // 0' <<<"$OUT" 2>/dev/null)
	if ((RC != 0)) || ! [[ $COUNT =~ ^[0-9]+$ ]]; then
		fail "no deny counters of $PKG_POLICY in status --json: $(ran)"
		return 1
	fi
}

start_test "package install: dpkg -i claude-bpf_${PKG_VERSION}_*.deb offline; --version $PKG_VERSION; unit installed, disabled, verified"
PKG_WHY="the package install test failed"
debs=("$ROOT/$BUILD"/claude-bpf_*.deb)
if [[ $(cat /proc/1/comm) != systemd ]]; then
	PKG_WHY="needs systemd as PID 1 (make vmtest boots such a guest)"
	skip "$PKG_WHY"
elif [[ ! -f ${debs[0]} ]]; then
	PKG_WHY="no $BUILD/claude-bpf_*.deb on the project disk (make deb; make vmtest copies it)"
	skip "$PKG_WHY"
elif ((${#debs[@]} != 1)); then
	fail "expected one $BUILD/claude-bpf_*.deb on the project disk, found: ${debs[*]##*/}"
elif [[ -n $(pkg_status) ]]; then
	fail "claude-bpf is already known to dpkg here ($(pkg_status)): the guest should start without it"
else
	PKG_DEB=${debs[0]}
	CLEANUP_HOOKS+=(pkg_cleanup)
	PKG_STATE=installing
	run dpkg -i "$PKG_DEB"
	unit=$(dpkg -L claude-bpf 2>/dev/null | grep '/systemd/system/claude-bpf\.service$')
	# systemd-analyze verify runs man for Documentation=man:...; the guest
	# has no man (minbase), so there it checks everything else.
	verify_opts=()
	command -v man >/dev/null || verify_opts=(--man=no)
	if ((RC != 0)); then
		fail "dpkg -i ${PKG_DEB##*/} failed: $(ran)"
	elif [[ $(pkg_status) != "install ok installed" ]]; then
		fail "after dpkg -i, dpkg-query says '$(pkg_status)', not 'install ok installed' ($(ran))"
	elif ! pkg_run_ok "$PKG_BIN" --version || [[ $OUT != "claude-bpf $PKG_VERSION "* ]]; then
		fail "$PKG_BIN --version should name $PKG_VERSION (the build's): $(ran)"
	elif [[ $(dpkg-query -W -f='${Version}' claude-bpf) != "$PKG_VERSION" ]]; then
		fail "the installed package's version is $(dpkg-query -W -f='${Version}' claude-bpf), not $PKG_VERSION"
	elif [[ -z $unit ]]; then
		fail "the package installs no claude-bpf.service: $(dpkg -L claude-bpf | tr '\n' ' ')"
	elif ! grep -qx "ExecStart=$PKG_BIN load --foreground --cgroup-manager podman --name $PKG_POLICY $PKG_CONF" "$unit"; then
		fail "$unit should start '$PKG_BIN load --foreground --cgroup-manager podman --name $PKG_POLICY $PKG_CONF': $(grep ExecStart "$unit")"
	elif ! dpkg-query -W -f='${Conffiles}' claude-bpf | grep -q "^ $PKG_CONF "; then
		fail "$PKG_CONF is not a conffile: $(dpkg-query -W -f='${Conffiles}' claude-bpf)"
	elif { run systemctl is-enabled claude-bpf; [[ $OUT != disabled ]]; }; then
		fail "the unit should be installed and not enabled (is-enabled: disabled): $(ran)"
	elif [[ $(systemctl is-active claude-bpf) != inactive ]]; then
		fail "installing should not start the service: it is $(systemctl is-active claude-bpf)"
	elif [[ -e /sys/fs/bpf/claude-bpf ]]; then
		fail "installing loaded something: /sys/fs/bpf/claude-bpf exists"
	elif ! pkg_run_ok systemd-analyze verify "${verify_opts[@]}" "$unit"; then
		fail "systemd-analyze verify ${verify_opts[*]} $unit: $(ran)"
	else
		PKG_STATE=installed
		pass
	fi
fi

start_test "package service: systemctl enable --now claude-bpf loads $PKG_CONF (allowed.test) as $PKG_POLICY; allowed.test reached, 10.231.2.11 refused and counted"
if pkg_ready installed; then
	PKG_WHY="the package's service did not come up"
	printf '%s\n' "# vmtest: the test network's names" "dns $DNS_V4" "allowed.test:8080" >"$PKG_CONF"
	run systemctl enable --now claude-bpf
	if ((RC != 0)); then
		fail "systemctl enable --now claude-bpf failed: $(ran); $(systemctl status --no-pager claude-bpf 2>&1 | tail -n 8)"
	elif pkg_wait_refresher; then
		LOADED_POLICIES+="$PKG_POLICY "
		exe=$(readlink "/proc/$PKG_PID/exe")
		if [[ $exe != "$PKG_BIN" ]]; then
			fail "the service's process $PKG_PID runs '$exe', not $PKG_BIN"
		elif [[ $(systemctl is-enabled claude-bpf 2>&1) != enabled ]]; then
			fail "after enable --now, is-enabled says '$(systemctl is-enabled claude-bpf 2>&1)'"
		elif pkg_with try_allowed "$PKG_POLICY" tcp 10.231.2.20 8080 && pkg_denied_total; then
			# try_denied takes exit 1 for EPERM, which a failed exec would
			# give too: the policy's deny counters must count it.
			before=$COUNT
			if pkg_with try_denied "$PKG_POLICY" tcp 10.231.2.11 8080 && pkg_denied_total; then
				if ((COUNT > before)); then
					PKG_STATE=up
					pass
				else
					fail "10.231.2.11 was refused, but the deny counters of $PKG_POLICY stayed at $before -> $COUNT: $OUT"
				fi
			fi
		fi
	fi
fi

start_test "package run: $PKG_BIN run --policy $PKG_POLICY starts a busybox container below it; inside, allowed.test is reached and 10.231.2.11 refused"
if pkg_ready up; then
	PM_POLICY=$PKG_POLICY
	new_payload
	p_ok=$PAYLOAD
	new_payload
	p_no=$PAYLOAD
	if ! pm_preconditions; then
		skip "$PM_STATE"
	elif ! pm_setup; then
		PM_STATE="the podman set-up failed"
		fail "the podman set-up failed: see the messages above"
	elif [[ $(podman info --format '{{.Host.CgroupManager}}' 2>&1) != systemd ]]; then
		fail "the guest's podman should use the systemd manager: $(podman info --format '{{.Host.CgroupManager}}' 2>&1)"
	elif pkg_with pm_home_used; then
		PM_POLICIES+=("$PKG_POLICY")
		pm_new_home
		pm_new_dir
		# Its cgroup as the host sees it, first.
		pkg_with pm_shell_seen "$DIR" 'probe tcp 10.231.2.20 8080 "$1"; echo "allowed=$?"
			probe tcp 10.231.2.11 8080 "$2"; echo "denied=$?"' "$p_ok" "$p_no"
		if ((RC != 0)); then
			fail "$PKG_BIN run failed: $(ran)"
		elif [[ $OUT != "0::/claudebpf.slice/claudebpf-$PKG_POLICY.slice/"*$'\n'"allowed=0"$'\n'"denied=1" ]]; then
			fail "expected the container below /claudebpf.slice/claudebpf-$PKG_POLICY.slice, allowed.test (10.231.2.20) reached and 10.231.2.11 refused (EPERM): $(ran)"
		else
			expect_received srv tcp 10.231.2.20 8080 "$p_ok" &&
				expect_nothing srv tcp 10.231.2.11 8080 "$p_no" && pass
		fi
	fi
fi

start_test "package remove: systemctl disable --now, dpkg -r unloads $PKG_POLICY and keeps $PKG_CONF; dpkg -P removes it"
if pkg_ready installed up; then
	PKG_WHY="the package remove test failed"
	if ! pkg_run_ok systemctl disable --now claude-bpf; then
		fail "systemctl disable --now claude-bpf failed: $(ran)"
	elif [[ $(systemctl is-active claude-bpf) == active ]]; then
		fail "the service still runs after disable --now"
	elif [[ $(systemctl is-enabled claude-bpf 2>&1) != disabled ]]; then
		fail "after disable --now, is-enabled says '$(systemctl is-enabled claude-bpf 2>&1)'"
	elif [[ $PKG_STATE == up ]] && ! pkg_run_ok "$CBPF" status --json "$PKG_POLICY"; then
		# Stopping the service leaves the policy: the removal must unload it.
		fail "stopping the service should leave $PKG_POLICY loaded: $(ran)"
	else
		run dpkg -r claude-bpf
		if ((RC != 0)); then
			fail "dpkg -r claude-bpf failed: $(ran)"
		elif [[ $(pkg_status) != "deinstall ok config-files" ]]; then
			fail "after dpkg -r, dpkg-query says '$(pkg_status)', not 'deinstall ok config-files'"
		elif [[ -e $PKG_BIN ]]; then
			fail "$PKG_BIN is still there after dpkg -r"
		elif ! pkg_run_ok "$CBPF" status --json ||
			! jq -e --arg n "$PKG_POLICY" '[.policies[].name] | index($n) == null' >/dev/null <<<"$OUT"; then
			fail "after dpkg -r, $PKG_POLICY should no longer be loaded (prerm unloads every policy): $(ran)"
		elif [[ -e /sys/fs/bpf/claude-bpf ]]; then
			fail "after dpkg -r, /sys/fs/bpf/claude-bpf is still there: $(ls /sys/fs/bpf/claude-bpf)"
		elif [[ -e $CGROUP2/claudebpf.slice/claudebpf-$PKG_POLICY.slice &&
			-n $(bpftool cgroup show "$CGROUP2/claudebpf.slice/claudebpf-$PKG_POLICY.slice" 2>&1) ]]; then
			# (systemd may keep the slice podman's container was in,
			# or make it again: it must hold no program of ours.)
			fail "after dpkg -r, programs are still attached to $CGROUP2/claudebpf.slice/claudebpf-$PKG_POLICY.slice: $(bpftool cgroup show "$CGROUP2/claudebpf.slice/claudebpf-$PKG_POLICY.slice" 2>&1)"
		elif [[ ! -f $PKG_CONF ]] || ! grep -qx "allowed.test:8080" "$PKG_CONF"; then
			fail "dpkg -r should keep the edited conffile $PKG_CONF: $(cat "$PKG_CONF" 2>&1)"
		else
			LOADED_POLICIES=${LOADED_POLICIES/ $PKG_POLICY / }
			PKG_STATE=removed
			run dpkg -P claude-bpf
			if ((RC != 0)); then
				fail "dpkg -P claude-bpf failed: $(ran)"
			elif [[ -n $(pkg_status) && $(pkg_status) != *not-installed ]]; then
				fail "after dpkg -P, dpkg-query says '$(pkg_status)'"
			elif [[ -e $PKG_CONF ]]; then
				fail "dpkg -P should remove $PKG_CONF"
			elif [[ -e /etc/claude-bpf ]]; then
				fail "dpkg -P should remove /etc/claude-bpf: $(ls -A /etc/claude-bpf)"
			elif [[ -e /etc/systemd/system/multi-user.target.wants/claude-bpf.service ]]; then
				fail "after dpkg -P, multi-user.target.wants still links claude-bpf.service"
			else
				PKG_STATE=""
				pass
			fi
		fi
	fi
fi
