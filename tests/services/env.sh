# Source this file before calling the scheduler clients (sbatch squeue sacct scancel scontrol,
# qsub qstat qacct qdel qconf) against the schedulers started by slurm_up.sh / sge_up.sh:
#   . tests/services/env.sh
# shellcheck shell=sh
# Grid Engine (Debian's gridengine packages): the clients need the root and cell.
export SGE_ROOT=/var/lib/gridengine
export SGE_CELL=default
# SLURM: the clients read /etc/slurm/slurm.conf (written by slurm_up.sh).
export SLURM_CONF=/etc/slurm/slurm.conf
# Where the up/down scripts keep state, pid files and logs (override before sourcing if needed).
export SCRIPTFLOW_SERVICES_DIR="${SCRIPTFLOW_SERVICES_DIR:-/var/tmp/scriptflow-services}"
export SCRIPTFLOW_SLURM_DIR="$SCRIPTFLOW_SERVICES_DIR/slurm"   # logs in log/, pid files
export SCRIPTFLOW_SGE_DIR="$SCRIPTFLOW_SERVICES_DIR/sge"       # config scratch files
