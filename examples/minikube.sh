#!/usr/bin/env bash
# Run the examples on minikube: start a cluster, build the examples image inside it, deploy
# the Redis, MariaDB and echo StatefulSets, run each example as a Job and show its logs,
# drill a planned switchover on Redis and on MariaDB while the examples run, and tear down.
#
#   examples/minikube.sh [--dry-run]            # everything, then asks before tearing down
#   examples/minikube.sh [--dry-run] up         # cluster, image, StatefulSets
#   examples/minikube.sh [--dry-run] run        # the example Jobs, through the drill
#   examples/minikube.sh [--dry-run] failover   # the drill alone
#   examples/minikube.sh [--dry-run] down       # delete everything (minikube delete)
#
# --dry-run prints every minikube and kubectl command instead of running it and touches
# nothing (tests/tests/manifests.rs checks what it names against the manifests).
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE="${MINIKUBE_PROFILE:-discovery}"
K8S=examples/k8s
DRY_RUN=""
if [ "${1:-}" = --dry-run ]; then
  DRY_RUN=1
  shift
fi

say() { printf '\n== %s\n' "$*"; }

# Every minikube and kubectl call goes through here.
run() {
  if [ -n "$DRY_RUN" ]; then
    printf '+'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}
kc() { run kubectl --context "$PROFILE" "$@"; }

# Output of a read-only kubectl call; in a dry run, the command and a placeholder.
kc_read() {
  if [ -n "$DRY_RUN" ]; then
    kc "$@" >&2
    echo "dry-run"
  else
    kubectl --context "$PROFILE" "$@"
  fi
}

# Retries "$@" every 2 s until it succeeds, for at most $1 seconds.
retry() {
  local deadline=$(( $(date +%s) + $1 ))
  shift
  until "$@"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "gave up: $*" >&2
      return 1
    fi
    sleep 2
  done
}

check_prerequisites() {
  [ -z "$DRY_RUN" ] || return 0
  local missing=()
  for tool in minikube kubectl; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "missing: ${missing[*]} (see examples/README.md, step 1)" >&2
    exit 1
  fi
}

up() {
  say "starting minikube (profile $PROFILE)"
  run minikube start -p "$PROFILE" --cpus=2 --memory=4096
  say "building the examples image inside minikube"
  run minikube -p "$PROFILE" image build -f examples/Dockerfile -t discovery-examples:latest .
  say "deploying Redis, MariaDB and echo StatefulSets"
  kc apply -f "$K8S/redis.yaml" -f "$K8S/mysql.yaml" -f "$K8S/echo.yaml"
  for set in redis mysql echo; do
    kc rollout status "statefulset/$set" --timeout=600s
  done
}

# Deletes a pod and waits until the StatefulSet's replacement (a new UID) is Ready.
replace_pod() {
  local pod=$1 old
  old="$(kc_read get pod "$pod" -o jsonpath='{.metadata.uid}')"
  kc delete pod "$pod" --wait=false
  if [ -n "$DRY_RUN" ]; then
    kc wait --for=condition=ready "pod/$pod" --timeout=10s
    return
  fi
  retry 300 new_uid "$pod" "$old"
  retry 300 kc wait --for=condition=ready "pod/$pod" --timeout=10s
}
new_uid() {
  local uid
  uid="$(kubectl --context "$PROFILE" get pod "$1" -o jsonpath='{.metadata.uid}' 2>/dev/null)" || return 1
  [ -n "$uid" ] && [ "$uid" != "$2" ]
}

failover() {
  say "Redis: planned switchover to redis-1 (writes paused, redis-1 caught up, promoted, others repointed)"
  kc exec redis-1 -- sh /scripts/switchover.sh
  say "Redis: deleting the old master redis-0; it boots as a replica of redis-1"
  replace_pod redis-0

  say "MariaDB: planned switchover to mysql-1 (read_only, caught up, promoted, others repointed)"
  local position
  position="$(kc_read exec mysql-0 -- sh /mysql-config/mysql.sh freeze)"
  kc exec mysql-1 -- sh /mysql-config/mysql.sh catch-up "$position"
  kc exec mysql-1 -- sh /mysql-config/mysql.sh promote
  for pod in mysql-0 mysql-2; do
    kc exec "$pod" -- sh /mysql-config/mysql.sh follow mysql-1
  done
  say "MariaDB: deleting the old primary mysql-0; it boots as a replica of mysql-1"
  replace_pod mysql-0
}

# Waits until a Job's pod has printed at least one round.
has_rounds() { kubectl --context "$PROFILE" logs "job/$1" 2>/dev/null | grep -q '^round '; }

run_jobs() {
  say "running the example Jobs"
  kc delete -f "$K8S/jobs.yaml" --ignore-not-found
  kc apply -f "$K8S/jobs.yaml"
  if [ -z "$DRY_RUN" ]; then
    retry 120 has_rounds redis-master-replica
    retry 120 has_rounds mysql-read-write
  fi
  failover
  for job in echo-balance service-watch redis-master-replica mysql-read-write; do
    kc wait --for=condition=complete "job/$job" --timeout=300s
    say "$job (last lines)"
    kc logs "job/$job" --tail=12
  done
}

down() {
  say "deleting minikube profile $PROFILE"
  run minikube delete -p "$PROFILE"
}

check_prerequisites
case "${1:-all}" in
  up) up ;;
  run) run_jobs ;;
  failover) failover ;;
  down) down ;;
  all)
    up
    run_jobs
    if [ -n "$DRY_RUN" ]; then
      down
    else
      read -r -p "tear down the cluster? [y/N] " answer
      if [ "$answer" = y ]; then down; fi
    fi
    ;;
  *)
    echo "usage: $0 [--dry-run] [up|run|failover|down]" >&2
    exit 2
    ;;
esac
