# Sourced bash library: network namespaces for tapstack's scripts and tests.
#
#   source scripts/lib/netns.sh
#   NS=tapstack-demo
#   trap 'netns_delete "$NS"' EXIT INT TERM   # netns_delete is idempotent: safe in any trap
#   netns_create "$NS"                        # fresh namespace, loopback up
#   netns_exec "$NS" ping -c 1 198.18.0.2
#
# Names must start with "tapstack-" (docs/ARCHITECTURE.md section 10: namespaces tapstack-*, addresses from
# 198.18.0.0/15, nothing leaves them), so a typo can never delete someone else's namespace.
# Functions return non-zero on failure and print one line on stderr; they never exit the caller.

netns__check_name() {
  local name=${1-}
  if [[ ! $name =~ ^tapstack-[A-Za-z0-9._-]+$ ]]; then
    echo "netns: refusing namespace name '${name}': it must match tapstack-[A-Za-z0-9._-]+" >&2
    return 2
  fi
}

# netns_create NAME: create NAME (deleting a stale one of the same name first) and bring up lo.
netns_create() {
  local name=${1-}
  netns__check_name "$name" || return
  netns_delete "$name" || return
  if ! ip netns add "$name"; then
    echo "netns: cannot create namespace $name (root needed)" >&2
    return 1
  fi
  if ! ip netns exec "$name" ip link set lo up; then
    netns_delete "$name"
    return 1
  fi
}

# netns_delete NAME: delete NAME if it exists; succeeds when it is (already) gone. It does not
# kill processes still inside: stop yours first (by PID), or the namespace lives on, unnamed,
# until they exit.
netns_delete() {
  local name=${1-}
  netns__check_name "$name" || return
  if ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF -- "$name"; then
    ip netns del "$name" 2>/dev/null || {
      # Raced with another deleter? Gone is gone.
      ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF -- "$name" || return 0
      echo "netns: cannot delete namespace $name" >&2
      return 1
    }
  fi
  return 0
}

# netns_exec NAME CMD [ARGS...]: run CMD inside NAME (exec'd in place: its PID is CMD's PID).
netns_exec() {
  local name=${1-}
  netns__check_name "$name" || return
  shift
  if (($# == 0)); then
    echo "netns: netns_exec $name: no command" >&2
    return 2
  fi
  ip netns exec "$name" "$@"
}
