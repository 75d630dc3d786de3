#!/bin/bash
# Stop what slurm_up.sh started (slurmctld, slurmd, slurmdbd, MariaDB, munged), by pid file only.
# Idempotent: does nothing for daemons that are not running. State and logs are kept.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"
S=$SCRIPTFLOW_SLURM_DIR
ctld=$(pidof_file "$S/slurmctld.pid"); d=$(pidof_file "$S/slurmd.pid")
if pid_alive "$ctld" slurmctld; then
  scontrol shutdown >/dev/null 2>&1 || true       # asks slurmctld and slurmd to exit
fi
stop_pid "$ctld" slurmctld 20
stop_pid "$d" slurmd 20
stop_pid "$(pidof_file "$S/slurmdbd.pid")" slurmdbd 20
stop_pid "$(pidof_file /run/mysqld/mysqld.pid)" mariadbd 60
stop_pid "$(pidof_file /run/munge/munged.pid)" munged 10
rm -f "$S/slurmctld.pid" "$S/slurmd.pid" "$S/slurmdbd.pid"
echo "slurm down"
