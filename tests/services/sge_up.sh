#!/bin/bash
# Install (if needed) and start a single-node Son of Grid Engine 8.1.9 (Debian 12 packages) on
# loopback; jobs run as root. Idempotent. Prints "sge up"; otherwise exits 1 with the log tail.
# Sets up: queue all.q on this host (16 slots, scripts run by their #! line), parallel
# environment "smp" (allocation_rule $pe_slots) for `qsub -pe smp N`, and the fixes below.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

H=$(hostname)
W=$SCRIPTFLOW_SGE_DIR
mkdir -p "$W"
SPOOL=/var/spool/gridengine
QMASTER_PID=$SPOOL/qmaster/qmaster.pid
EXECD_PID=/run/gridengine/execd.pid   # written by /etc/init.d/gridengine-exec
QMASTER_LOG=$SPOOL/qmaster/messages
EXECD_LOG=$SPOOL/execd/$H/messages

getent hosts "$H" >/dev/null || die "hostname $H does not resolve (add it to /etc/hosts)"

# Let the package configure the cell "default" with this host as master.
printf '%s\n' "gridengine-common shared/gridengineconfig boolean true" \
  "gridengine-common shared/gridenginecell string default" \
  "gridengine-common shared/gridenginemaster string $H" | debconf-set-selections
# Note: this removes slurm-wlm-torque if it is installed (both ship `qsub`); SLURM itself is unaffected.
apt_install gridengine-master gridengine-exec gridengine-client

# Fix 1: $H resolves to 127.0.0.1, which reverse-resolves to "localhost"; tell SGE they are one
# host, otherwise every client fails with "commlib error: access denied".
echo "$H localhost" >"$SGE_ROOT/$SGE_CELL/common/host_aliases"

if ! running "$QMASTER_PID" sge_qmaster; then
  /etc/init.d/gridengine-master start >"$W/qmaster-start.log" 2>&1 ||
    die "sge_qmaster did not start" "$W/qmaster-start.log" "$QMASTER_LOG"
fi
wait_for 30 qconf -sh || die "sge_qmaster does not answer" "$QMASTER_LOG"

# Fix 2: min_uid/min_gid 0 so root may run jobs (else jobs sit in Eqw); must be set before
# sge_execd starts. Fix 3: write accounting at once, so qacct sees a job within ~1 s.
qconf -sconf global >"$W/global.orig"
awk 'cont { cont = /\\$/; next }          # drop continuation lines of a replaced entry
     $1 == "min_uid" || $1 == "min_gid" { print $1, 0; cont = /\\$/; next }
     $1 == "reporting_params" { print "reporting_params accounting=true reporting=false flush_time=00:00:01 accounting_flush_time=00:00:00 joblog=false sharelog=00:00:00"; cont = /\\$/; next }
     { print }' "$W/global.orig" >"$W/global"
flat() { sed -e ':a' -e '/\\$/{N;s/\\\n[[:space:]]*/ /;ba' -e '}' "$1" | tr -s ' \t' ' '; }   # join "\" lines
if [ "$(flat "$W/global.orig")" != "$(flat "$W/global")" ]; then
  (cd "$W" && qconf -Mconf global) >>"$W/qconf.log" 2>&1 || die "qconf -Mconf global failed" "$W/qconf.log"   # file must be named "global"
fi
# Fix 3 (scheduler): run every second and right after submit/finish.
qconf -ssconf >"$W/sched.orig"
sed -e 's/^schedule_interval .*/schedule_interval                 0:0:1/' \
    -e 's/^flush_submit_sec .*/flush_submit_sec                  1/' \
    -e 's/^flush_finish_sec .*/flush_finish_sec                  1/' "$W/sched.orig" >"$W/sched"
cmp -s "$W/sched.orig" "$W/sched" || qconf -Msconf "$W/sched" >>"$W/qconf.log" 2>&1 || die "qconf -Msconf failed" "$W/qconf.log"

# This host as submit and execution host.
qconf -ss 2>/dev/null | grep -qx "$H" || qconf -as "$H" >>"$W/qconf.log" 2>&1 || die "qconf -as $H failed" "$W/qconf.log"
if ! qconf -sel 2>/dev/null | grep -qx "$H"; then
  printf '%s\n' "hostname $H" "load_scaling NONE" "complex_values NONE" "user_lists NONE" \
    "xuser_lists NONE" "projects NONE" "xprojects NONE" "usage_scaling NONE" "report_variables NONE" >"$W/exechost"
  qconf -Ae "$W/exechost" >>"$W/qconf.log" 2>&1 || die "qconf -Ae failed" "$W/qconf.log"
fi

# Parallel environment smp: `qsub -pe smp N` gets N slots on one host.
# shellcheck disable=SC2016  # $pe_slots is literal
if ! qconf -spl 2>/dev/null | grep -qx smp; then
  printf '%s\n' "pe_name smp" "slots 999" "user_lists NONE" "xuser_lists NONE" "start_proc_args NONE" \
    "stop_proc_args NONE" 'allocation_rule $pe_slots' "control_slaves FALSE" "job_is_first_task TRUE" \
    "urgency_slots min" "accounting_summary FALSE" "qsort_args NONE" >"$W/pe_smp"
  qconf -Ap "$W/pe_smp" >>"$W/qconf.log" 2>&1 || die "qconf -Ap smp failed" "$W/qconf.log"
fi

# Queue all.q: 16 slots, no load thresholds, scripts started by their #! line (unix_behavior).
if ! qconf -sql 2>/dev/null | grep -qx all.q; then
  qconf -sq | sed -e 's/^qname .*/qname all.q/' -e "s/^hostlist .*/hostlist $H/" -e 's/^slots .*/slots 16/' \
    -e 's/^load_thresholds .*/load_thresholds NONE/' -e 's/^pe_list .*/pe_list smp/' \
    -e 's/^shell_start_mode .*/shell_start_mode unix_behavior/' >"$W/allq"
  qconf -Aq "$W/allq" >>"$W/qconf.log" 2>&1 || die "qconf -Aq all.q failed" "$W/qconf.log"
fi
qset() {  # qset ATTR VALUE: set an all.q attribute if it differs
  [ "$(qconf -sq all.q | awk -v a="$1" '$1 == a { $1 = ""; sub(/^ /, ""); print }')" = "$2" ] ||
    qconf -mattr queue "$1" "$2" all.q >>"$W/qconf.log" 2>&1 || die "cannot set all.q $1 $2" "$W/qconf.log"
}
qset hostlist "$H"
qset slots 16
qset load_thresholds NONE
qset shell_start_mode unix_behavior
qset pe_list smp

if ! running "$EXECD_PID" sge_execd; then   # only after the min_uid/min_gid change
  /etc/init.d/gridengine-exec start >"$W/execd-start.log" 2>&1 ||
    die "sge_execd did not start" "$W/execd-start.log" "$EXECD_LOG"
fi
queue_ready() {  # all.q@host listed with an arch (execd reported) and no state flags
  qstat -f -q all.q | awk '$1 ~ /^all\.q@/ && NF == 5 && $5 != "-NA-" { ok = 1 } END { exit !ok }'
}
wait_for 60 queue_ready || die "queue all.q@$H is not ready: $(qstat -f -q all.q 2>&1 | grep all.q@)" \
  "$EXECD_LOG" "$QMASTER_LOG"
echo "sge up"
