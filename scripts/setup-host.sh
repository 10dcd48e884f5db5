#!/usr/bin/env bash
# Prepares a Debian 12 / Ubuntu 24.04 host for vmctl. Idempotent; run as root.
#
# Why each step exists (measured on the CI machines):
#  - without virtlogd every domain create fails after a 60 s wait;
#  - with /dev/kvm left root-only (0600), libvirt decides its cached QEMU
#    capabilities are stale on every call and each create takes ~60 s;
#  - libvirt-daemon-system creates the libvirt-qemu user QEMU runs as.
set -euo pipefail

log() { printf 'setup-host: %s\n' "$*"; }
die() { printf 'setup-host: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (try: sudo $0)"

PACKAGES=(
  qemu-system-x86 qemu-utils
  libvirt-daemon-system libvirt-clients libvirt-dev
  pkg-config gcc make git ca-certificates
  busybox-static   # static userland for the guest initramfs
  linux-source-6.1 flex bison bc libelf-dev xz-utils   # `image build --kernel minimal` (gcc, make above)
  iproute2         # network namespaces for multi-host tests
  chromium         # headless browser for the HTML report test (bench)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "packages already installed"
fi

# The guest image build downloads Debian's kernel package with apt-get, which
# needs package lists even when nothing above had to be installed.
policy=$(apt-cache policy linux-image-amd64 2>/dev/null || true)
if ! grep -q 'Candidate: [0-9]' <<<"$policy"; then
  log "refreshing package lists (needed to download the guest kernel)"
  apt-get update -q
fi

if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
  log "installing Go from Debian (golang-go)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q golang-go
fi

if [ -e /dev/kvm ]; then
  getent group kvm >/dev/null || groupadd --system kvm
  chgrp kvm /dev/kvm
  chmod 0660 /dev/kvm
  log "/dev/kvm: $(stat -c '%G %a' /dev/kvm)"
else
  log "/dev/kvm absent: guests will run under TCG emulation"
fi

if [ -d /run/systemd/system ]; then
  log "systemd present: enabling virtlogd and libvirtd"
  systemctl enable --now virtlogd.socket libvirtd.socket >/dev/null 2>&1 || true
  systemctl start virtlogd libvirtd
else
  mkdir -p /run/libvirt
  if ! pgrep -x virtlogd >/dev/null; then
    log "starting virtlogd"
    virtlogd -d
  fi
  if ! pgrep -x libvirtd >/dev/null; then
    log "starting libvirtd"
    libvirtd -d
  fi
fi

for i in $(seq 1 60); do
  if virsh -c qemu:///system version >/dev/null 2>&1; then
    log "libvirt answers on qemu:///system ($(virsh -c qemu:///system version | awk '/Using library/{print $4}'))"
    install -d -m 0755 /var/lib/vmctl
    exit 0
  fi
  sleep 0.5
done
die "qemu:///system did not answer within 30 s; check /var/log/libvirt/libvirtd.log"
