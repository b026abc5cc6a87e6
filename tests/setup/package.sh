#!/bin/bash
# The Debian package, as a user gets it: `make deb` and lintian here, then
# in a fresh minimal Debian 12 root `apt-get install ./claude-bpf_*.deb`
# (which must pull every runtime dependency), what it installed, and its
# life with a policy really loaded into the running kernel: an upgrade keeps
# the policy enforced, an upgrade that changes the pinned-map ABI is refused
# and keeps it enforced, a removal is refused while a process is inside the
# policy, then removes everything, and purge removes the configuration.
#   tests/setup/package.sh      (root; make test-package)
# The later versions are this package repacked (dpkg-deb -R, -b) with a
# higher version and, for the ABI change, another ABI in its preinst: the
# preinst is what decides, and it runs before the new binary is unpacked.
# Enforcement is judged at the socket: from the root (the host's network
# namespace), a connect to a namespace host made here where nothing
# listens is refused by that host (ECONNREFUSED) when the policy allows it,
# and fails with EPERM, sending nothing, when the policy denies it.
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

NAME="the Debian package"
POLICY=cbt_pkg
fresh_preconditions "$NAME"
for c in dpkg-buildpackage dh lintian dpkg-deb; do
	command -v "$c" >/dev/null || skip_all "$NAME" "no $c (./setup deps test installs it)"
done
# Removing the package unloads every policy: not on a machine that has some.
if [[ -e /sys/fs/bpf/claude-bpf ]]; then
	skip_all "$NAME" "claude-bpf policies are loaded on this machine, and removing the package unloads them all"
fi

VERSION=$(built_version)
ARCH=$(dpkg --print-architecture)
ABI=$(sed -n 's/^#define CBPF_ABI_VERSION \([0-9]*\).*/\1/p' "$ROOT/include/claude_bpf.h")
DEB=$ROOT/$BUILD/claude-bpf_${VERSION}_$ARCH.deb

t0=$SECONDS
if out=$(make -C "$ROOT" --no-print-directory deb BUILD="$BUILD" 2>&1) && [[ -f $DEB ]]; then
	ok "make deb: ${DEB#"$ROOT/"}, $(stat -c %s "$DEB") bytes ($((SECONDS - t0)) s)"
else
	fail "make deb" "$out"
	finish
fi

# lintian: no error and no warning; what it says at lower levels is shown.
out=$(lintian --display-info "$DEB" 2>&1 | grep -E '^[A-Z]: ')
if grep -qE '^[EW]: ' <<<"$out"; then
	fail "lintian: no error or warning" "$out"
else
	ok "lintian: no error or warning${out:+ (info: $(awk '{print $3}' <<<"$out" | sort -u | tr '\n' ' '))}"
fi

# repack OUT VERSION [ABI]: this package with another version (and ABI).
repack() {
	local out=$1 version=$2 abi=${3:-} d=$T/repack
	rm -rf "$d"
	dpkg-deb -R "$DEB" "$d"
	sed -i "s/^Version: .*/Version: $version/" "$d/DEBIAN/control"
	[[ -n $abi ]] && sed -i "s/^NEW_ABI=.*/NEW_ABI=$abi/" "$d/DEBIAN/preinst"
	dpkg-deb -b "$d" "$out" >/dev/null
	rm -rf "$d"
}
repack "$T/claude-bpf_next.deb" "$VERSION+1"
repack "$T/claude-bpf_abi.deb" "$VERSION+2" $((ABI + 1))
if ! grep -q "^NEW_ABI=$ABI\$" <(dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./preinst); then
	fail "the package's preinst knows its ABI ($ABI)" "$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./preinst | grep NEW_ABI=)"
fi

R=$T/root
if ! fresh_root "$R"; then
	fail "a fresh $FRESH_SUITE root" "debootstrap failed (log: $FRESH_DIR/debootstrap.log)"
	finish
fi
cp "$DEB" "$T/claude-bpf_next.deb" "$T/claude-bpf_abi.deb" "$R/root/"
target_ns || { fail "the target namespace"; finish; }

# The whole life in one session of the root (its /run, where claude-bpf
# keeps its lock and state, lives as long as the session). Each step prints
# "STEP name: result"; the checks below read them.
t1=$SECONDS
cat >"$R/root/life.sh" <<'EOF'
	cd /root
	policy=$1 version=$2
	step() { printf "STEP %s: %s\n" "$1" "$2"; }
	# connect ADDR: from inside the policy, allowed (refused by the host),
	# denied (EPERM) or other.
	connect() {
		local e
		e=$(claude-bpf exec --policy "$policy" -- timeout 5 bash -c "exec 3<>/dev/tcp/$1/80" 2>&1)
		case $e in
		*"Connection refused"*) echo allowed ;;
		*"Operation not permitted"*) echo denied ;;
		*) echo "other: $e" ;;
		esac
	}
	# enforced: the policy allows .9.2 and denies .9.3, as loaded.
	enforced() { echo "$(connect 10.231.9.2) $(connect 10.231.9.3) $(connect fd42:231:9::2) $(connect fd42:231:9::3)"; }
	dpkg_status() { dpkg-query -W -f="\${Status} \${Version}" claude-bpf 2>&1; }

	apt-get update -q >/dev/null 2>&1
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q ./claude-bpf_*"$(dpkg --print-architecture)".deb >apt.log 2>&1
	step install "$? $(dpkg_status)"
	step version "$(claude-bpf --version 2>&1)"
	step check "$(claude-bpf check --no-resolve /etc/claude-bpf/allowed-hosts.conf 2>&1 | head -n 1)"
	step conffiles "$(dpkg-query -W -f="\${Conffiles}" claude-bpf | awk "{print \$1}" | tr "\n" " ")"
	step files "$(for f in /usr/sbin/claude-bpf /usr/share/man/man8/claude-bpf.8.gz \
		/usr/share/claude-bpf/image/build /usr/share/claude-bpf/image/Containerfile \
		/usr/share/claude-bpf/podman/containers.conf /usr/share/bash-completion/completions/claude-bpf; do
		[ -e "$f" ] || printf "missing %s " "$f"; done; echo done)"
	unit=$(dpkg -L claude-bpf | grep "/systemd/system/claude-bpf.service$")
	step unit "$unit"
	step unit-enabled "$( [ -e /etc/systemd/system/multi-user.target.wants/claude-bpf.service ] && echo enabled || echo disabled)"
	step dropin "$( [ -L /etc/containers/containers.conf.d/50-claude-bpf.conf ] && echo linked || echo none) needed=$(/usr/share/claude-bpf/podman/containers-conf needed && echo yes || echo no)"
	step image-help "$(claude-bpf image --help 2>&1 | head -n 1)"
	step deps "$(dpkg-query -W -f="\${Status}\n" podman runc libbpf1 libc-ares2 libldns3 2>&1 | grep -vc "install ok installed") not installed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd >/dev/null 2>&1
	# --man=no: this root has no man(1); the page itself is checked above.
	step verify "$(systemd-analyze verify --man=no "$unit" 2>&1; echo "exit $?")"

	printf "10.231.9.2:80\n[fd42:231:9::2]:80\n" >/etc/claude-bpf/test.conf
	claude-bpf load --name "$policy" --no-refresh /etc/claude-bpf/test.conf >/dev/null 2>&1
	step loaded "$(enforced)"

	dpkg -i claude-bpf_next.deb >dpkg-next.log 2>&1
	step upgrade "$? $(dpkg_status)"
	step upgrade-enforced "$(enforced)"

	dpkg -i claude-bpf_abi.deb >dpkg-abi.log 2>&1
	step abi "$? $(dpkg_status)"
	step abi-message "$(grep -c "pinned map ABI" dpkg-abi.log)"
	step abi-enforced "$(enforced)"
	step abi-status "$(claude-bpf status --summary "$policy" >/dev/null 2>&1; echo $?)"

	claude-bpf exec --policy "$policy" -- bash -c "echo \$\$ >/root/sleeper; exec sleep 300" &
	for i in 1 2 3 4 5 6 7 8 9 10; do [ -s /root/sleeper ] && break; sleep 0.5; done
	DEBIAN_FRONTEND=noninteractive apt-get remove -y -q claude-bpf >remove-busy.log 2>&1
	step remove-busy "$? $(dpkg_status)"
	step remove-busy-enforced "$(enforced)"
	kill "$(cat /root/sleeper)"; wait

	DEBIAN_FRONTEND=noninteractive apt-get remove -y -q claude-bpf >remove.log 2>&1
	step remove "$? $(dpkg_status)"
	step remove-pins "$( [ -e /sys/fs/bpf/claude-bpf ] && echo present || echo gone)"
	step remove-cgroup "$(ls -d /sys/fs/cgroup/unified/claude-bpf/"$policy" /sys/fs/cgroup/claude-bpf/"$policy" 2>/dev/null || echo gone)"
	step remove-conf "$( [ -f /etc/claude-bpf/allowed-hosts.conf ] && echo kept || echo gone)"
	step remove-dropin "$( [ -e /etc/containers/containers.conf.d/50-claude-bpf.conf ] && echo present || echo gone)"
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -q claude-bpf >purge.log 2>&1
	step purge "$? $( [ -e /etc/claude-bpf/allowed-hosts.conf ] && echo kept || echo gone)"
	tail -n 5 apt.log dpkg-abi.log remove-busy.log remove.log | sed "s/^/LOG /"
EOF
out=$(in_root "$R" /bin/bash /root/life.sh "$POLICY" "$VERSION" 2>&1)
printf '%s\n' "$out" >"$FRESH_DIR/package.log"
t_life=$((SECONDS - t1))
# Whatever failed above, nothing of the test's policy stays loaded.
if [[ -e /sys/fs/bpf/claude-bpf ]]; then
	"$ROOT/$BUILD/claude-bpf" unload --force --all >/dev/null 2>&1
fi

# get STEP: what the root printed for it.
get() { sed -n "s/^STEP $1: //p" <<<"$out" | head -n 1; }
# expect STEP PATTERN TITLE
expect() {
	local got
	got=$(get "$1")
	# shellcheck disable=SC2053
	if [[ $got == $2 ]]; then
		ok "$3"
	else
		fail "$3" "$1: ${got:-nothing printed}" "$(grep '^LOG ' <<<"$out" | tail -n 20)"
	fi
}

expect install "0 install ok installed $VERSION" "apt-get install ./claude-bpf_${VERSION}_$ARCH.deb in a fresh root ($t_life s for the whole life)"
expect deps "0 not installed" "it pulled podman, runc, libbpf1, libc-ares2 and libldns3"
expect version "claude-bpf $VERSION (pinned map ABI $ABI)" "claude-bpf --version"
expect check "/etc/claude-bpf/allowed-hosts.conf: * rules, * hostnames not resolved (--no-resolve)" \
	"claude-bpf check --no-resolve /etc/claude-bpf/allowed-hosts.conf"
expect conffiles "/etc/claude-bpf/allowed-hosts.conf " "the allowlist is a conffile"
expect files "done" "binary, man page, image recipe, podman drop-in and completion are installed"
expect unit-enabled "disabled" "the unit is installed but not enabled"
expect verify "exit 0" "systemd-analyze verify of the unit"
if [[ $(get dropin) == *needed=yes ]]; then
	expect dropin "linked needed=yes" "podman's drop-in is linked where this machine needs it"
else
	expect dropin "none needed=no" "no podman drop-in where this machine does not need it"
fi
expect image-help "Builds the agent's image*" "claude-bpf image runs the installed recipe (its --help)"
expect loaded "allowed denied allowed denied" "a policy loaded from the package's claude-bpf enforces (IPv4, IPv6)"
expect upgrade "0 install ok installed $VERSION+1" "an upgrade with the same ABI installs"
expect upgrade-enforced "allowed denied allowed denied" "... and the loaded policy stays enforced"
expect abi "1 install ok installed $VERSION+1" "an upgrade that changes the ABI while a policy is loaded is refused"
expect abi-message "1" "... with a message that names the ABI"
expect abi-enforced "allowed denied allowed denied" "... and the loaded policy stays enforced"
expect abi-status "0" "... and the installed claude-bpf still manages it"
expect remove-busy "[1-9]*install ok installed $VERSION+1" "removal is refused while a process runs inside a policy"
expect remove-busy-enforced "allowed denied allowed denied" "... and the policy stays enforced"
expect remove "0 deinstall ok config-files $VERSION+1" "then removal unloads and removes"
expect remove-pins "gone" "... with no pins left"
expect remove-cgroup "gone" "... and no enforcement cgroup left"
expect remove-conf "kept" "... keeping the configuration"
expect remove-dropin "gone" "... and removing podman's drop-in"
expect purge "0 gone" "purge removes the configuration"
finish
