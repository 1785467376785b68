#!/usr/bin/env bash
# scripts/services-stop.sh — stop, by PID file, only the services that scripts/services.sh
# started itself (listed in $SERVICES_DIR/run/started.list). Services that were already running
# before services.sh (e.g. a machine's own PostgreSQL, Redis 6379 or RabbitMQ) are never touched.
#
#   bash scripts/services-stop.sh             # stop everything services.sh started
#   bash scripts/services-stop.sh redis-7000  # stop just one (names as in started.list:
#                                             # postgres, rabbitmq, redis-6379, redis-7000 …)
#
# Env knobs:
#   SERVICES_DIR=/tmp/pm-agent-services   must match the value services.sh ran with
set -uo pipefail
SERVICES_DIR=${SERVICES_DIR:-/tmp/pm-agent-services}
RUN=$SERVICES_DIR/run
STARTED=$RUN/started.list
[ -f "$STARTED" ] || { echo "[stop] nothing recorded in $STARTED"; exit 0; }

log() { echo "[stop] $*"; }
# alive <pid>: exists and is not a zombie (a daemon whose parent is gone may be reaped late)
alive() { kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]; }
# stop_pid <name> <pid> <signal> <timeout-s> <command-name pattern>: signal one PID (only if its
# command name matches, so a stale PID file never hits an unrelated process), wait for it to
# exit, SIGKILL at timeout
stop_pid() {
  local name=$1 pid=$2 sig=$3 t=$4 comm_re=$5 i
  [ -n "$pid" ] && alive "$pid" || { log "$name: not running"; return 0; }
  if ! ps -o comm= -p "$pid" 2>/dev/null | grep -Eq "$comm_re"; then
    log "$name: pid $pid is not $comm_re (stale pid file) — not touching it"; return 0
  fi
  kill "-$sig" "$pid"
  for ((i = 0; i < t * 10; i++)); do alive "$pid" || { log "$name: stopped (pid $pid)"; return 0; }; sleep 0.1; done
  log "$name: still alive after ${t}s, SIGKILL pid $pid"; kill -KILL "$pid" 2>/dev/null; return 0
}
unmark() { sed -i "/^$1\$/d" "$STARTED"; }

stop_one() {
  local name=$1 pid ver pidfile
  case "$name" in
    redis-*)
      pid=$(cat "$RUN/$name.pid" 2>/dev/null)
      stop_pid "$name" "$pid" TERM 15 '^redis' ;;  # TERM = shutdown (nothing to save: --save "")
    postgres)
      ver=$(cat "$RUN/postgres.version" 2>/dev/null || ls /etc/postgresql | sort -V | tail -1)
      pid=$(head -1 "/var/lib/postgresql/$ver/main/postmaster.pid" 2>/dev/null)
      stop_pid postgres "$pid" INT 30 '^postgres' ;; # INT = "fast" shutdown
    rabbitmq)
      pidfile=/var/lib/rabbitmq/mnesia/rabbit@$(hostname -s).pid
      pid=$(cat "$pidfile" 2>/dev/null)
      stop_pid rabbitmq "$pid" TERM 60 '^beam'     # beam handles TERM as a clean stop
      if [ -f "$RUN/epmd.pid" ]; then              # epmd only if it was started along with rabbitmq
        stop_pid epmd "$(cat "$RUN/epmd.pid")" TERM 5 '^epmd'; rm -f "$RUN/epmd.pid"
      fi ;;
    *) log "unknown service '$name'"; return 1 ;;
  esac
  unmark "$name"
}

rc=0
if [ $# -gt 0 ]; then
  for n in "$@"; do stop_one "$n" || rc=1; done
else
  # reverse start order
  mapfile -t names < <(tac "$STARTED")
  for n in "${names[@]}"; do [ -n "$n" ] && { stop_one "$n" || rc=1; }; done
fi
log "done; still recorded: $(tr '\n' ' ' < "$STARTED")"
exit $rc
