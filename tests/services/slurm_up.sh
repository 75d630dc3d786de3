#!/bin/bash
# Install (if needed) and start a single-node SLURM 22.05 on loopback with slurmdbd + MariaDB,
# so that sbatch/squeue/scontrol/scancel and sacct all work. Idempotent. Debian 12, root, no systemd.
# Prints "slurm up" on success; otherwise exits 1 with the relevant log tail.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

S=$SCRIPTFLOW_SLURM_DIR
H=$(hostname -s)
L=$S/log
# --no-install-recommends keeps slurm-wlm-torque out: it ships a `qsub` and conflicts with gridengine-client
apt_install slurmctld slurmd slurm-client munge slurmdbd mariadb-server
mkdir -p "$S/state" "$S/spool" "$L"

# ---- munge (authentication for all SLURM daemons and clients)
mkdir -p /run/munge && chown munge:munge /run/munge
[ -s /etc/munge/munge.key ] || { mungekey -c -f && chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key; }
if ! running /run/munge/munged.pid munged; then
  su -s /bin/sh munge -c /usr/sbin/munged || die "munged did not start" /var/log/munge/munged.log
fi
wait_for 10 sh -c 'munge -n | unmunge' || die "munge does not work" /var/log/munge/munged.log

# ---- MariaDB (storage for slurmdbd)
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
if ! running /run/mysqld/mysqld.pid mariadbd; then
  # setsid: mariadbd does not daemonize; keep it out of the caller's session/process group
  setsid -f mariadbd --user=mysql --bind-address=127.0.0.1 --pid-file=/run/mysqld/mysqld.pid \
    --socket=/run/mysqld/mysqld.sock >"$L/mariadb.log" 2>&1 </dev/null
fi
wait_for 30 mariadb -e 'select 1' || die "MariaDB did not come up" "$L/mariadb.log"
mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmpw';
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';" || die "cannot create the MariaDB user"

# ---- config files (rewritten only when they change)
install_conf() {  # install_conf FILE MODE < content; returns 0 if FILE changed
  local tmp; tmp=$(mktemp)
  cat >"$tmp"
  if [ -f "$1" ] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 1; fi
  install -m "$2" "$tmp" "$1"; rm -f "$tmp"
}
install_conf /etc/slurm/slurmdbd.conf 600 <<DBDCONF || true
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
LogFile=$L/slurmdbd.log
PidFile=$S/slurmdbd.pid
DBDCONF
# proctrack/linuxproc + task/none + jobacct_gather/none: no cgroups needed.
# CPUs=16 with config_overrides: more job slots than the 2 real cores, fast for many small jobs.
# select/cons_tres with CR_Core: memory is recorded (--mem) but not a consumable, so jobs
# without --mem do not claim the whole node. MinJobAge: finished jobs stay in scontrol for 1 h.
SLURM_CONF_CHANGED=0
install_conf /etc/slurm/slurm.conf 644 <<SLURMCONF && SLURM_CONF_CHANGED=1
ClusterName=local
SlurmctldHost=${H}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$L/slurmctld.log
SlurmdLogFile=$L/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=3600
KillWait=5
MpiDefault=none
NodeName=${H} NodeAddr=127.0.0.1 CPUs=16 RealMemory=16000 State=UNKNOWN
PartitionName=debug Nodes=${H} Default=YES MaxTime=INFINITE State=UP
SLURMCONF

# ---- slurmdbd, then slurmctld + slurmd
if ! running "$S/slurmdbd.pid" slurmdbd; then
  slurmdbd || die "slurmdbd did not start" "$L/slurmdbd.log"
fi
wait_for 60 sacctmgr -n list cluster || die "slurmdbd does not answer" "$L/slurmdbd.log" "$L/mariadb.log"
sacctmgr -n -P list cluster format=cluster | grep -qx local || sacctmgr -i add cluster local >/dev/null ||
  die "cannot register cluster 'local' in slurmdbd" "$L/slurmdbd.log"

ctld_was_running=0
if running "$S/slurmctld.pid" slurmctld; then ctld_was_running=1; else
  slurmctld || die "slurmctld did not start" "$L/slurmctld.log"
fi
running "$S/slurmd.pid" slurmd || slurmd || die "slurmd did not start" "$L/slurmd.log"
if [ "$ctld_was_running" = 1 ] && [ "$SLURM_CONF_CHANGED" = 1 ]; then
  scontrol reconfigure || die "scontrol reconfigure failed" "$L/slurmctld.log"
fi

node_ready() { sinfo -h -n "$H" -o %T | grep -Eqx 'idle|mixed|allocated|completing'; }
wait_for 30 node_ready || die "SLURM node $H is not ready: $(sinfo -h -n "$H" -o '%T %E' 2>&1)" \
  "$L/slurmctld.log" "$L/slurmd.log"
wait_for 30 sacct -n -X -S now-1minutes || die "sacct cannot reach slurmdbd" "$L/slurmdbd.log"
echo "slurm up"
