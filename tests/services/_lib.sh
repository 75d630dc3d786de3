# Helpers sourced by slurm_up.sh, slurm_down.sh, sge_up.sh, sge_down.sh (not meant to be run).
# shellcheck shell=bash
SERVICES_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=env.sh
. "$SERVICES_HOME/env.sh"
mkdir -p "$SCRIPTFLOW_SERVICES_DIR"

log() { echo "[$(basename "$0")] $*" >&2; }

# die MESSAGE [LOGFILE...]: print the message and the tail of each log, exit 1
die() {
  local msg=$1 f; shift
  echo "[$(basename "$0")] ERROR: $msg" >&2
  for f in "$@"; do
    [ -s "$f" ] && { echo "----- last lines of $f -----" >&2; tail -n 30 "$f" >&2; }
  done
  exit 1
}

# pidof_file PIDFILE: the pid written in PIDFILE (empty if none)
pidof_file() { if [ -s "$1" ]; then tr -dc 0-9 <"$1"; fi; }

# pid_alive PID [COMM]: PID is a live, non-zombie process (named COMM)
# (PID 1 on these machines reaps orphans late, so <defunct> leftovers must not count)
pid_alive() {
  local p=$1 comm=${2:-}
  [ -n "$p" ] && [ -r "/proc/$p/status" ] || return 1
  grep -q '^State:[[:space:]]*Z' "/proc/$p/status" 2>/dev/null && return 1
  [ -z "$comm" ] || [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$comm" ]
}

# running PIDFILE COMM: the daemon recorded in PIDFILE is alive
running() { pid_alive "$(pidof_file "$1")" "$2"; }

# wait_for SECONDS COMMAND...: retry COMMAND every 0.2 s until it succeeds or time runs out
wait_for() {
  local t=$1 i; shift
  for ((i = 0; i < t * 5; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  "$@" >/dev/null 2>&1
}

# stop_pid PID COMM [SECONDS]: SIGTERM a process (only if it is still COMM), wait, then SIGKILL
stop_pid() {
  local p=$1 comm=$2 t=${3:-20} i
  pid_alive "$p" "$comm" || return 0
  kill "$p" 2>/dev/null || true
  for ((i = 0; i < t * 5; i++)); do pid_alive "$p" "$comm" || return 0; sleep 0.2; done
  log "$comm (pid $p) ignored SIGTERM for ${t}s, sending SIGKILL"
  kill -9 "$p" 2>/dev/null || true
  for ((i = 0; i < 25; i++)); do pid_alive "$p" "$comm" || return 0; sleep 0.2; done
  return 1
}

# apt_install PKG...: install the packages that are missing, quietly and without recommends.
# Runs `apt-get update` first only if there are no package lists; if the install fails
# (e.g. stale lists pointing at removed .debs) it runs `apt-get update` once and retries.
apt_install() {
  local missing=() p out=$SCRIPTFLOW_SERVICES_DIR/apt.log
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q ' installed$' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  export DEBIAN_FRONTEND=noninteractive
  local opts=(-y -q -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=600 --no-install-recommends)
  # shellcheck disable=SC2206
  [ -n "${APT_OPTS:-}" ] && opts+=($APT_OPTS)
  : >"$out"
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    apt-get update -q >>"$out" 2>&1 || die "apt-get update failed" "$out"
  fi
  if ! apt-get install "${opts[@]}" "${missing[@]}" >>"$out" 2>&1; then
    log "apt-get install ${missing[*]} failed; running apt-get update and retrying"
    { apt-get update -q && apt-get install "${opts[@]}" "${missing[@]}"; } >>"$out" 2>&1 ||
      die "apt-get install ${missing[*]} failed" "$out"
  fi
}
