# Sourced by scripts/test, scripts/demo and scripts/container-test (and the Containerfile): install what a fresh Debian machine lacks.
# Needs root. Debian packages of the peers and validators, then the npm dependencies.

TAPSTACK_DEB_PACKAGES=(iproute2 iputils-ping tshark python3-scapy procps util-linux socat curl wget netcat-openbsd apache2-utils hping3 nmap iperf3 time dnsmasq-base)

tapstack_require_root() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "$0: run as root: the tests create TAP devices and network namespaces" >&2
    exit 1
  fi
  if [[ ! -c /dev/net/tun ]]; then
    echo "$0: /dev/net/tun is missing: load the tun module or pass --device /dev/net/tun to the container" >&2
    exit 1
  fi
}

tapstack_install_deb() {
  tapstack_apt_install "${TAPSTACK_DEB_PACKAGES[@]}"
}

# tapstack_apt_install PKG...: install those of the Debian packages that are missing (apt-get
# update only when the install fails, so a machine with fresh lists needs no round trip).
tapstack_apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture; the answer does not matter here.
    echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections 2>/dev/null || true
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/tapstack-apt.log 2>&1; then
      apt-get update -q >>/tmp/tapstack-apt.log 2>&1
      apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/tapstack-apt.log 2>&1 || {
        tail -20 /tmp/tapstack-apt.log >&2
        echo "$0: apt-get install failed" >&2
        exit 1
      }
    fi
  fi
}

# The lock file's digest, kept in node_modules by the last `npm ci`: whether the installed tree
# is the locked one. (Modification times say nothing in a fresh clone or an image layer: a
# clone's lock file is newer than an image's cached node_modules, which offline cannot be
# installed again.)
tapstack_lock_digest() {
  sha256sum package-lock.json | cut -d' ' -f1
}

tapstack_npm_ci() {
  echo "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  tapstack_lock_digest >node_modules/.tapstack-lock-digest
}

tapstack_install_npm() {
  if [[ ! -f node_modules/.tapstack-lock-digest || $(<node_modules/.tapstack-lock-digest) != "$(tapstack_lock_digest)" ]]; then
    tapstack_npm_ci
  fi
  echo "building (tsc)"
  npm run --silent build
}
