#!/usr/bin/env bash
# Slotwise quickstart on one machine (Debian 12):
#   1. installs the dependencies (deploy/install-deps.sh; skipped when all are present),
#   2. builds Slotwise (Release) into build/,
#   3. starts a 3-master + 3-replica Redis Cluster on 127.0.0.1:7000-7005 under .run/cluster/,
#   4. starts build/slotwise --config deploy/examples/local.yaml on 127.0.0.1:6380, with the
#      admin listener (dashboard, /metrics, /readyz, /api/*) on 127.0.0.1:9121.
#
# Usage: deploy/quickstart.sh [start]   start (stopping what a previous run started first)
#        deploy/quickstart.sh stop      stop only the processes named in our pidfiles
#
# Running it twice is safe: the second run stops the processes recorded in the first run's
# pidfiles and starts a fresh cluster and proxy. Ports taken by anything else are an error.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly RUN_DIR="${ROOT}/.run"
readonly CLUSTER_DIR="${RUN_DIR}/cluster"
readonly PROXY_PIDFILE="${RUN_DIR}/slotwise.pid"
readonly PROXY_LOG="${RUN_DIR}/slotwise.log"
readonly PROXY_CONFIG="${ROOT}/deploy/examples/local.yaml"
readonly PROXY_PORT=6380
readonly ADMIN_PORT=9121
readonly NODE_PORTS=(7000 7001 7002 7003 7004 7005)
readonly BUS_PORTS=(17000 17001 17002 17003 17004 17005)

log() { printf 'quickstart: %s\n' "$*"; }
die() {
  printf 'quickstart: error: %s\n' "$*" >&2
  exit 1
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# True if pid $1 is alive and its command line contains $2.
pid_matches() {
  local pid="$1" pattern="$2" cmdline
  [[ "${pid}" =~ ^[0-9]+$ ]] || return 1
  kill -0 "${pid}" 2>/dev/null || return 1
  cmdline="$(tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null || true)"
  [[ "${cmdline}" == *"${pattern}"* ]]
}

# Stops the process named in pidfile $1 if it still runs $2; removes the pidfile.
stop_pidfile() {
  local pidfile="$1" pattern="$2" pid i
  [[ -f "${pidfile}" ]] || return 0
  pid="$(<"${pidfile}")"
  if pid_matches "${pid}" "${pattern}"; then
    log "stopping ${pattern} (pid ${pid})"
    kill -TERM "${pid}" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "${pid}" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "${pid}" 2>/dev/null; then
      log "pid ${pid} ignored SIGTERM; sending SIGKILL"
      kill -KILL "${pid}" 2>/dev/null || true
    fi
  fi
  rm -f "${pidfile}"
}

stop_all() {
  local port
  stop_pidfile "${PROXY_PIDFILE}" "slotwise"
  for port in "${NODE_PORTS[@]}"; do
    stop_pidfile "${CLUSTER_DIR}/redis-${port}.pid" "redis-server"
  done
}

check_ports_free() {
  local port taken=()
  for port in "${NODE_PORTS[@]}" "${BUS_PORTS[@]}" "${PROXY_PORT}" "${ADMIN_PORT}"; do
    if port_in_use "${port}"; then
      taken+=("${port}")
    fi
  done
  if ((${#taken[@]} > 0)); then
    die "ports ${taken[*]} on 127.0.0.1 are in use by processes this script did not start" \
      "(see: ss -ltnp). Stop them, then run deploy/quickstart.sh again."
  fi
}

build() {
  log "building (Release) into build/"
  cmake -S "${ROOT}" -B "${ROOT}/build" -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build "${ROOT}/build" -j2
}

# Polls `$@` (a command) every 0.1s for up to $1 seconds; true as soon as it succeeds.
wait_until() {
  local seconds="$1" i
  shift
  for ((i = 0; i < seconds * 10; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

node_answers() { [[ "$(redis-cli -p "$1" ping 2>/dev/null)" == "PONG" ]]; }

cluster_ok() {
  local port info
  for port in "${NODE_PORTS[@]}"; do
    info="$(redis-cli -p "${port}" cluster info 2>/dev/null || true)"
    [[ "${info}" == *"cluster_state:ok"* ]] || return 1
  done
}

start_node() {
  local port="$1"
  redis-server --port "${port}" --bind 127.0.0.1 \
    --cluster-enabled yes --cluster-config-file "nodes-${port}.conf" \
    --cluster-node-timeout 5000 --save "" --appendonly no \
    --daemonize yes --dir "${CLUSTER_DIR}" \
    --pidfile "${CLUSTER_DIR}/redis-${port}.pid" --logfile "${CLUSTER_DIR}/redis-${port}.log"
  wait_until 10 node_answers "${port}" || die "redis-server on port ${port} did not start;" \
    "see ${CLUSTER_DIR}/redis-${port}.log"
}

start_cluster() {
  local port addrs=()
  rm -rf "${CLUSTER_DIR}"
  mkdir -p "${CLUSTER_DIR}"
  for port in "${NODE_PORTS[@]}"; do
    start_node "${port}"
    addrs+=("127.0.0.1:${port}")
  done
  log "creating the cluster (3 masters, 3 replicas)"
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes \
    >"${CLUSTER_DIR}/create.log" 2>&1 || {
    cat "${CLUSTER_DIR}/create.log" >&2
    die "redis-cli --cluster create failed"
  }
  wait_until 60 cluster_ok || die "cluster_state did not become ok; see ${CLUSTER_DIR}/*.log"
  log "cluster is up on 127.0.0.1:7000-7005"
}

proxy_answers() { [[ "$(redis-cli -p "${PROXY_PORT}" ping 2>/dev/null)" == "PONG" ]]; }

start_proxy() {
  local pid
  nohup "${ROOT}/build/slotwise" --config "${PROXY_CONFIG}" </dev/null >>"${PROXY_LOG}" 2>&1 &
  pid=$!
  echo "${pid}" >"${PROXY_PIDFILE}"
  if ! wait_until 15 proxy_answers; then
    tail -n 30 "${PROXY_LOG}" >&2 || true
    stop_pidfile "${PROXY_PIDFILE}" "slotwise"
    die "slotwise did not answer PING on 127.0.0.1:${PROXY_PORT}; log: ${PROXY_LOG}"
  fi
  log "slotwise is up (pid ${pid})"
}

print_usage_help() {
  cat <<MSG

Slotwise is running.
  connect:   redis-cli -p ${PROXY_PORT}            (e.g. redis-cli -p ${PROXY_PORT} set foo bar)
  dashboard: http://127.0.0.1:${ADMIN_PORT}/
  metrics:   http://127.0.0.1:${ADMIN_PORT}/metrics  (Prometheus text)
  ready:     http://127.0.0.1:${ADMIN_PORT}/readyz   (200 when every slot's master is reachable)
  hot keys:  http://127.0.0.1:${ADMIN_PORT}/api/hotkeys?window=10s
  big keys:  http://127.0.0.1:${ADMIN_PORT}/api/bigkeys
  monitor:   redis-cli -p ${PROXY_PORT} monitor     (the commands this proxy receives)
  logs:      ${PROXY_LOG}
             ${CLUSTER_DIR}/redis-<port>.log
  stop:      deploy/quickstart.sh stop
MSG
}

main() {
  local command="${1:-start}"
  case "${command}" in
    stop)
      stop_all
      log "stopped"
      ;;
    start)
      "${ROOT}/deploy/install-deps.sh"
      build
      mkdir -p "${RUN_DIR}"
      stop_all
      check_ports_free
      start_cluster
      start_proxy
      print_usage_help
      ;;
    *)
      die "unknown command '${command}' (use: start | stop)"
      ;;
  esac
}

main "$@"
