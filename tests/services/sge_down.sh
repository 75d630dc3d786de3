#!/bin/bash
# Stop what sge_up.sh started (sge_execd, sge_qmaster). Asks them to exit with qconf, then
# signals the pids from their pid files if needed (never by name). Idempotent; config is kept.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"
SPOOL=/var/spool/gridengine
qm=$(pidof_file "$SPOOL/qmaster/qmaster.pid"); ex=$(pidof_file /run/gridengine/execd.pid)
if pid_alive "$qm" sge_qmaster; then
  pid_alive "$ex" sge_execd && { qconf -ke all >/dev/null 2>&1 || true; }
  qconf -km >/dev/null 2>&1 || true      # "/etc/init.d/gridengine-master stop" does not stop it
fi
stop_pid "$ex" sge_execd 20
stop_pid "$qm" sge_qmaster 30           # the qmaster takes a few seconds to exit
echo "sge down"
