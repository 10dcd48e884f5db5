#!/usr/bin/env bash
# testhost.sh: start/stop an extra, isolated libvirt host on this machine for
# multi-host integration tests. See scripts/testhost_README.md.
#
#   testhost.sh up NAME INDEX   start it (idempotent); last stdout line is the URI
#   testhost.sh down NAME       stop it and remove every trace (idempotent)
#   testhost.sh status NAME     show its state; exit 0 only when it answers
#
# Layout of test host NAME with index N (1..254):
#   network namespace vmctl-NAME; veth vmhN (host, 10.213.N.1/30) <-> vmgN
#   (namespace, 10.213.N.2/30) and lo. No route out: the test host can reach
#   only 10.213.N.1 and itself.
#   A private mount namespace (created once, kept alive by the daemons) in
#   which /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/cache/libvirt and
#   /var/log/libvirt are bind mounts of directories under
#   /run/vmctl-testhost/NAME/fs, so its virtlogd + libvirtd never see the main
#   host's sockets, configuration, domains or logs (and vice versa).
#   libvirtd listens on tcp 10.213.N.2:16509 without authentication.
#   URI: qemu+tcp://10.213.N.2/system
set -euo pipefail

PROG=testhost
STATE_ROOT=/run/vmctl-testhost
TCP_PORT=16509
WAIT_S=${VMCTL_TESTHOST_WAIT:-30}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

usage() {
  cat >&2 <<EOF
usage: $0 up NAME INDEX    start test host NAME on 10.213.INDEX.2 (INDEX 1..254); prints its URI
       $0 down NAME        stop test host NAME and remove everything it made
       $0 status NAME      show test host NAME; exit 0 only if it answers
NAME: 1-32 of [a-z0-9_-], starting with a letter or digit.
EOF
  exit 2
}

# ---------------------------------------------------------------- naming

check_name() {
  [[ "$1" =~ ^[a-z0-9][a-z0-9_-]{0,31}$ ]] || die "bad NAME '$1': use 1-32 of [a-z0-9_-], starting with a letter or digit"
}
check_index() {
  [[ "$1" =~ ^[0-9]{1,3}$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 254 ] ||
    die "bad INDEX '$1': must be an integer 1..254 (it becomes 10.213.INDEX.0/30)"
  [[ "$1" =~ ^0 ]] && die "bad INDEX '$1': no leading zeros"
  return 0
}

# set_names NAME [INDEX]: fills the globals every command uses. Without
# INDEX it is read from the state directory or, failing that, from the veth
# inside the namespace (so `down` works even after the state dir was lost).
set_names() {
  NAME=$1
  NS=vmctl-$NAME
  DIR=$STATE_ROOT/$NAME
  FS=$DIR/fs
  INDEX=${2:-}
  if [ -z "$INDEX" ] && [ -r "$DIR/index" ]; then
    INDEX=$(<"$DIR/index")
  fi
  if [ -z "$INDEX" ] && ns_exists; then
    INDEX=$(ip -n "$NS" -o link show 2>/dev/null | sed -n 's/^[0-9]*: vmg\([0-9]*\)@.*/\1/p' | head -n1)
  fi
  if [ -n "$INDEX" ]; then
    HOST_IF=vmh$INDEX
    GUEST_IF=vmg$INDEX
    HOST_IP=10.213.$INDEX.1
    NS_IP=10.213.$INDEX.2
    URI=qemu+tcp://$NS_IP/system
  else
    HOST_IF='' GUEST_IF='' HOST_IP='' NS_IP='' URI=''
  fi
}

ns_exists() { [ -e "/run/netns/$NS" ]; }
link_exists() { ip link show dev "$1" >/dev/null 2>&1; }
# The host-side veth is this test host's only if its peer sits in our
# namespace; a vmh<INDEX> without that belongs to someone else.
own_link() { [ -n "$HOST_IF" ] && ns_exists && link_exists "$HOST_IF" && ip -n "$NS" link show dev "$GUEST_IF" >/dev/null 2>&1; }

# ---------------------------------------------------------------- processes

ns_inode() { stat -L -c %i "/run/netns/$NS" 2>/dev/null; }

# daemon_pid COMM: prints the pid from $DIR/COMM.pid if that process is
# alive, is COMM, and lives in this test host's network namespace. The last
# check is what guarantees `down` can never signal the main host's daemons.
daemon_pid() {
  local comm=$1 pid ino
  [ -r "$DIR/$comm.pid" ] || return 1
  pid=$(tr -dc 0-9 <"$DIR/$comm.pid")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
  ino=$(ns_inode) || return 1
  [ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = "net:[$ino]" ] || return 1
  printf '%s\n' "$pid"
}

ns_pids() { ns_exists && ip netns pids "$NS" 2>/dev/null || true; }

# stop_pids PID...: SIGTERM, wait up to 10 s, then SIGKILL.
stop_pids() {
  local pids=("$@") alive i p
  [ "${#pids[@]}" -gt 0 ] || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for i in $(seq 1 100); do
    alive=()
    for p in "${pids[@]}"; do [ -d "/proc/$p" ] && alive+=("$p"); done
    [ "${#alive[@]}" -eq 0 ] && return 0
    sleep 0.1
  done
  log "still running after SIGTERM, sending SIGKILL: ${alive[*]}"
  kill -KILL "${alive[@]}" 2>/dev/null || true
  for i in $(seq 1 50); do
    alive=()
    for p in "${pids[@]}"; do [ -d "/proc/$p" ] && alive+=("$p"); done
    [ "${#alive[@]}" -eq 0 ] && return 0
    sleep 0.1
  done
  die "processes did not exit: ${alive[*]}"
}

answers() { [ -n "$URI" ] && timeout 5 virsh -q -c "$URI" version >/dev/null 2>&1; }

healthy() {
  ns_exists && [ -n "$INDEX" ] && own_link &&
    daemon_pid virtlogd >/dev/null && daemon_pid libvirtd >/dev/null && answers
}

# ---------------------------------------------------------------- safety

# The host's own mount table must never show the test host's mounts.
assert_host_mounts_clean() {
  local m
  for m in /etc/libvirt /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; do
    if awk -v m="$m" '$5 == m {found=1} END {exit !found}' /proc/self/mountinfo; then
      die "BUG: $m is a mount point in the main mount namespace; the main host's libvirt is affected. Run '$0 down $NAME' and check 'findmnt $m'"
    fi
  done
}

lock() {
  install -d -m 0755 "$STATE_ROOT"
  exec 9>"$STATE_ROOT/.lock"
  flock -w 120 9 || die "could not lock $STATE_ROOT/.lock within 120 s (another testhost.sh is running)"
}

need_root_and_tools() {
  [ "$(id -u)" -eq 0 ] || die "must run as root"
  local t
  for t in ip unshare virsh libvirtd virtlogd flock timeout stat awk; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found on PATH (run scripts/setup-host.sh)"
  done
  getent passwd libvirt-qemu >/dev/null || die "user libvirt-qemu missing (install libvirt-daemon-system: scripts/setup-host.sh)"
}

# ---------------------------------------------------------------- down

do_down() {
  local pid pids
  if [ -z "$INDEX" ] && ! ns_exists && [ ! -e "$DIR" ]; then
    return 0
  fi
  # 1. Domains first, through the test host's own libvirtd, so libvirt
  #    tears down what it made (QEMU, sockets, virtlogd files).
  if [ -n "$URI" ] && daemon_pid libvirtd >/dev/null && answers; then
    local dom
    for dom in $(timeout 20 virsh -q -c "$URI" list --name --state-running --state-paused --state-other 2>/dev/null || true); do
      log "destroying domain $dom on $URI"
      timeout 30 virsh -q -c "$URI" destroy "$dom" >/dev/null 2>&1 || log "warning: destroy $dom failed (its QEMU is killed below)"
    done
    for dom in $(timeout 20 virsh -q -c "$URI" list --all --name 2>/dev/null || true); do
      timeout 20 virsh -q -c "$URI" undefine --nvram "$dom" >/dev/null 2>&1 ||
        timeout 20 virsh -q -c "$URI" undefine "$dom" >/dev/null 2>&1 || true
    done
  fi
  # 2. The daemons, identified by pid file + name + network namespace.
  pids=()
  for d in libvirtd virtlogd; do
    if pid=$(daemon_pid "$d"); then pids+=("$pid"); fi
  done
  [ "${#pids[@]}" -eq 0 ] || { log "stopping daemons ${pids[*]}"; stop_pids "${pids[@]}"; }
  # 3. Anything else still in the namespace (QEMU orphaned by a crashed
  #    libvirtd, helpers). Only processes in *this* netns are listed.
  mapfile -t pids < <(ns_pids)
  [ "${#pids[@]}" -eq 0 ] || { log "stopping leftover processes in $NS: ${pids[*]}"; stop_pids "${pids[@]}"; }
  # With every process gone, the private mount namespace is gone too.
  # 4. Network. Deleting the namespace also deletes the veth pair; the
  #    explicit delete is only for a pair we own, never for a vmh<INDEX>
  #    that belongs to another test host.
  if own_link; then
    ip link del "$HOST_IF" || die "could not delete $HOST_IF"
  fi
  if ns_exists; then
    ip netns del "$NS" || die "could not delete network namespace $NS"
  fi
  # 5. State (pid files, the private libvirt trees). Optionally keep logs.
  if [ -d "$DIR" ]; then
    if [ -n "${VMCTL_TESTHOST_KEEP_LOGS:-}" ] && [ -d "$FS/log" ]; then
      install -d "$VMCTL_TESTHOST_KEEP_LOGS/$NAME"
      cp -a "$FS/log/." "$VMCTL_TESTHOST_KEEP_LOGS/$NAME/"
      log "logs kept in $VMCTL_TESTHOST_KEEP_LOGS/$NAME"
    fi
    rm -rf --one-file-system "$DIR"
  fi
  assert_host_mounts_clean
}

# ---------------------------------------------------------------- up

write_config() {
  local etc=$FS/etc
  install -d -m 0755 "$etc" "$etc/qemu" "$etc/qemu/networks" "$etc/qemu/autostart" "$etc/storage" "$etc/secrets" "$etc/hooks" "$etc/nwfilter"
  chmod 0700 "$etc/secrets"
  # Fresh files, not copies of the host's: no host domains, networks,
  # storage pools or hooks leak in.
  cat >"$etc/libvirtd.conf" <<EOF
# vmctl test host $NAME ($0): TCP without auth, bound to the namespace address only.
listen_tls = 0
listen_tcp = 1
listen_addr = "$NS_IP"
tcp_port = "$TCP_PORT"
auth_tcp = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
  cat >"$etc/virtlogd.conf" <<EOF
log_outputs = "3:file:/var/log/libvirt/virtlogd.log"
EOF
  # QEMU runs as libvirt-qemu, never root. No cgroups: /sys/fs/cgroup is
  # shared with the main host and both daemons name machine cgroups
  # qemu-<id>-<name>, with ids starting at 1 on each: they would collide.
  # No dynamic ownership: with it, this libvirtd would chown the guest image
  # under /var/lib/vmctl/images (shared with the main host) to libvirt-qemu
  # for as long as its domains run, and keep refcounts in xattrs on it.
  # The image files are world-readable, so QEMU does not need that.
  cat >"$etc/qemu.conf" <<EOF
user = "libvirt-qemu"
group = "libvirt-qemu"
dynamic_ownership = 0
remember_owner = 0
cgroup_controllers = [ ]
EOF
  # Client config: keeps the host's (e.g. uri_default) away from anything
  # run inside the namespace.
  printf '%s\n' '# vmctl test host' >"$etc/libvirt.conf"
}

# skeleton SRC DST: the directory tree (modes and owners, no files) of SRC,
# to depth 3, minus per-domain directories.
skeleton() {
  local src=$1 dst=$2 mode owner rel
  install -d -m 0755 "$dst"
  [ -d "$src" ] || return 0
  while IFS=' ' read -r mode owner rel; do
    case "$rel" in ''|*domain-*) continue ;; esac
    install -d -m "$mode" -o "${owner%:*}" -g "${owner#*:}" "$dst/$rel"
  done < <(find "$src" -mindepth 1 -maxdepth 3 -type d -printf '%m %u:%g %P\n')
  chmod "$(stat -c %a "$src")" "$dst"
  chown "$(stat -c %u:%g "$src")" "$dst"
}

prepare_fs() {
  rm -rf --one-file-system "$FS"
  install -d -m 0755 "$DIR" "$FS"
  write_config
  install -d -m 0755 "$FS/run"
  skeleton /var/lib/libvirt "$FS/lib"
  install -d -m 0711 "$FS/cache" "$FS/cache/qemu"
  install -d -m 0755 "$FS/log" "$FS/log/qemu"
  # QEMU capabilities cache: libvirt validates each entry (binary ctime,
  # libvirtd ctime, /dev/kvm, microcode) before using it, so copying the
  # main host's cannot be wrong and cuts `up` from ~8 s to ~0.25 s here
  # (VMCTL_TESTHOST_CAPS_CACHE=0 to start with an empty cache).
  if [ "${VMCTL_TESTHOST_CAPS_CACHE:-1}" = 1 ] && [ -d /var/cache/libvirt/qemu/capabilities ]; then
    cp -a /var/cache/libvirt/qemu/capabilities "$FS/cache/qemu/" 2>/dev/null || true
  fi
  printf '%s\n' "$INDEX" >"$DIR/index"
  printf '%s\n' "$URI" >"$DIR/uri"
}

# check_conflicts: INDEX (interface names, addresses) must not belong to
# another test host or to anything else. Runs before any teardown.
check_conflicts() {
  local other users
  for other in "$STATE_ROOT"/*/index; do
    [ -r "$other" ] || continue
    [ "$other" = "$DIR/index" ] && continue
    [ "$(<"$other")" = "$INDEX" ] && die "INDEX $INDEX is already used by test host $(basename "$(dirname "$other")")"
  done
  if link_exists "$HOST_IF" && ! own_link; then
    die "interface $HOST_IF already exists and is not test host $NAME's; pick another INDEX"
  fi
  users=$(ip -o -4 addr show | awk -v own="$HOST_IF" '$4 ~ /^10\.213\.'"$INDEX"'\./ && $2 != own {print $2, $4}' | tr '\n' ' ')
  [ -z "$users" ] || die "10.213.$INDEX.0/30 is already in use on this host ($users); pick another INDEX"
  return 0
}

setup_net() {
  ip netns add "$NS"
  ip link add "$HOST_IF" type veth peer name "$GUEST_IF" netns "$NS"
  ip addr add "$HOST_IP/30" dev "$HOST_IF"
  ip link set "$HOST_IF" up
  ip -n "$NS" addr add "$NS_IP/30" dev "$GUEST_IF"
  ip -n "$NS" link set lo up
  ip -n "$NS" link set "$GUEST_IF" up
}

# The inner script runs once, as the first process of the private mount and
# UTS namespaces (unshare --mount --uts --propagation private, inside `ip netns exec`,
# which itself has already made / a slave). The daemons it starts keep that
# namespace alive after it exits; everything they spawn (QEMU) inherits it.
INNER='
set -eu
FS=$1 DIR=$2 HOSTNAME_=$3
# Own UTS namespace too, so libvirt (virConnectGetHostname, vmctl doctor and
# its error messages) names this host apart from the main one.
hostname "$HOSTNAME_"
# The daemons must not inherit our descriptors: fd 9 is the flock on
# $STATE_ROOT/.lock (a daemon holding it would block every later up/down),
# others may be pipes of the caller, which would then never see EOF.
for fd in $(ls /proc/$$/fd); do
  [ "$fd" -gt 2 ] && eval "exec $fd>&-" || true
done
# Belt and braces: unshare already did this, but a shared / here would
# propagate the mounts below into the main host.
mount --make-rprivate /
mount --bind "$FS/etc"   /etc/libvirt
mount --bind "$FS/run"   /run/libvirt
mount --bind "$FS/lib"   /var/lib/libvirt
mount --bind "$FS/cache" /var/cache/libvirt
mount --bind "$FS/log"   /var/log/libvirt
virtlogd -d -p "$DIR/virtlogd.pid"
libvirtd -d -l -p "$DIR/libvirtd.pid"
'

start_daemons() {
  local d
  for d in /etc/libvirt /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; do
    [ -d "$d" ] || install -d -m 0755 "$d"   # mount points only; never written to
  done
  ip netns exec "$NS" unshare --mount --uts --propagation private -- \
    /bin/bash -c "$INNER" testhost-init "$FS" "$DIR" "testhost-$NAME" 9>&- ||
    die "starting virtlogd/libvirtd in $NS failed; see $FS/log/"
  assert_host_mounts_clean
  local pid
  for d in virtlogd libvirtd; do
    pid=$(daemon_pid "$d") || die "$d did not start (no live pid in $DIR/$d.pid); see $FS/log/$d.log"
    [ "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] ||
      die "BUG: $d runs in the main mount namespace"
  done
}

wait_answer() {
  local start now
  start=$(date +%s%N)
  while :; do
    if answers; then return 0; fi
    daemon_pid libvirtd >/dev/null || die "libvirtd of test host $NAME exited; see $FS/log/libvirtd.log:
$(tail -n 20 "$FS/log/libvirtd.log" 2>/dev/null)"
    now=$(date +%s%N)
    [ $(( (now - start) / 1000000000 )) -lt "$WAIT_S" ] ||
      die "$URI did not answer within ${WAIT_S} s; see $FS/log/libvirtd.log"
    sleep 0.2
  done
}

cmd_up() {
  [ $# -eq 2 ] || usage
  check_name "$1"; check_index "$2"
  need_root_and_tools
  lock
  if [ -r "$STATE_ROOT/$1/index" ] && [ "$(<"$STATE_ROOT/$1/index")" != "$2" ]; then
    die "test host $1 already exists with INDEX $(<"$STATE_ROOT/$1/index"); run '$0 down $1' first"
  fi
  set_names "$1" "$2"
  if healthy; then
    log "test host $NAME already up"
    printf '%s\n' "$URI"
    return 0
  fi
  check_conflicts
  if ns_exists || [ -e "$DIR" ]; then
    log "test host $NAME is partly up; removing the remains first"
    do_down
  fi
  local t0 t1
  t0=$(date +%s%N)
  setup_net
  prepare_fs
  start_daemons
  wait_answer
  t1=$(date +%s%N)
  log "test host $NAME up in $(( (t1 - t0) / 1000000 )) ms (libvirtd $(daemon_pid libvirtd), virtlogd $(daemon_pid virtlogd), logs $FS/log)"
  printf '%s\n' "$URI"
}

cmd_down() {
  [ $# -eq 1 ] || usage
  check_name "$1"
  need_root_and_tools
  lock
  set_names "$1"
  if [ -z "$INDEX" ] && ! ns_exists && [ ! -e "$DIR" ]; then
    log "test host $NAME is not up"
    return 0
  fi
  do_down
  log "test host $NAME is down"
}

cmd_status() {
  [ $# -eq 1 ] || usage
  check_name "$1"
  need_root_and_tools
  set_names "$1"
  local ok=0 lv vl
  echo "name:      $NAME"
  echo "namespace: $NS $(ns_exists && echo present || echo absent)"
  if [ -n "$INDEX" ]; then
    echo "veth:      $HOST_IF ($HOST_IP) <-> $GUEST_IF ($NS_IP) $(link_exists "$HOST_IF" && echo present || echo absent)"
  fi
  lv=$(daemon_pid libvirtd || echo none)
  vl=$(daemon_pid virtlogd || echo none)
  echo "libvirtd:  $lv"
  echo "virtlogd:  $vl"
  echo "state:     $DIR $([ -d "$DIR" ] && echo present || echo absent)"
  if answers; then
    echo "uri:       $URI (answers)"
    echo "domains:"
    timeout 10 virsh -q -c "$URI" list --all 2>&1 | sed 's/^/  /'
  else
    ok=1
    echo "uri:       ${URI:-unknown} (does not answer)"
  fi
  return "$ok"
}

[ $# -ge 1 ] || usage
cmd=$1; shift
case "$cmd" in
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  status) cmd_status "$@" ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
