#!/usr/bin/env bash
# Slurm peer benchmark: the same N trivial jobs (`true`) through Slurm and through corral, in one
# run, on this machine; prints both rates and their ratio.
#
#   sudo bash bench/peers/slurm.sh                 # 1000 jobs, process containerizer + linux
#   bash bench/peers/slurm.sh --repeat 3 --json out.json  # 3 rounds each, medians reported
#   bash bench/peers/slurm.sh --jobs 200 --no-linux --keep
#
# What it does:
#  1. installs Debian's slurm-wlm, slurmctld, slurmd, slurm-client and munge with apt-get when a
#     binary is missing (root; apt is kept from starting the packages' own daemons);
#  2. writes a one-host Slurm cluster under a fresh run directory (config, munge key and socket,
#     state, spool, logs, pid files) with the high-throughput settings of Slurm's HTC guide,
#     and starts munged, slurmctld and slurmd by hand (no systemd);
#  3. measures Slurm: `srun -n1 true` latency, N x `sbatch --wrap true` submitted in a loop, and
#     one `sbatch --array=0-(N-1) --wrap true`; each batch is done when the job-completion log
#     has N records (every one must say COMPLETED with exit code 0:0), with a deadline;
#  4. stops Slurm (exactly the daemons it started, by pid file) so it does not share the CPUs
#     with corral, then runs `python bench/launch.py` (same N, process containerizer, and the
#     linux containerizer unless --no-linux), a one-at-a-time run for corral's per-task latency,
#     and sequential `corral run -- true` calls (a new client per task, like srun);
#  5. prints one table: corral tasks/s, Slurm jobs/s (loop, array), the ratios, the latencies.
#
# Everything it starts is stopped on exit, on error and on Ctrl-C (trap): Slurm jobs are
# cancelled, then slurmd, slurmctld and munged are stopped by their pid files; slurmstepd
# processes of this run (found by this run's SLURM_CONF in their environment) are killed last.
# The run directory is removed unless --keep.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
HELPER="$HERE/slurm_bench.py"
PY="${PYTHON:-python3}"

JOBS=1000
SRUNS=50
REPEAT=1
SLURM_CPUS=64
LINUX=1
KEEP=0
RUN_BASE="${TMPDIR:-/tmp}"
DEADLINE=600
JSON_OUT=""
SLURM_ONLY=0
SCHED_PARAMS="batch_sched_delay=0,default_queue_depth=1000,partition_job_depth=1000,sched_max_job_start=1000,max_rpc_cnt=150"

usage() {
  cat <<EOF
usage: bench/peers/slurm.sh [--jobs N] [--repeat R] [--sruns M] [--slurm-cpus C] [--no-linux]
                            [--slurm-only] [--sched-params P] [--run-dir-base DIR]
                            [--deadline S] [--json FILE] [--keep]
  --jobs N          trivial jobs/tasks per batch on each system (default $JOBS)
  --repeat R        R rounds of each batch on each system; the median is reported (default 1)
  --sruns M         sequential 'srun -n1 true' and 'corral run -- true' calls (default $SRUNS)
  --slurm-cpus C    CPUs the Slurm node declares, i.e. jobs it may run at once (default $SLURM_CPUS)
  --no-linux        skip the corral run with the linux containerizer
  --slurm-only      measure Slurm only (no corral runs, no table)
  --sched-params P  Slurm's SchedulerParameters (default: $SCHED_PARAMS)
  --run-dir-base D  where the Slurm run directory is made (default \$TMPDIR or /tmp)
  --deadline S      give up on a Slurm batch after S seconds (default $DEADLINE)
  --json FILE       also write every figure as one JSON object to FILE
  --keep            keep the run directory (config, logs, raw results)
EOF
}

die() { echo "slurm.sh: $*" >&2; exit 2; }

posint() {  # posint FLAG VALUE
  [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, got '${2}'"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) [ $# -ge 2 ] || die "--jobs needs a value"; posint --jobs "$2"; JOBS="$2"; shift 2;;
    --repeat) [ $# -ge 2 ] || die "--repeat needs a value"; posint --repeat "$2"; REPEAT="$2"; shift 2;;
    --sruns) [ $# -ge 2 ] || die "--sruns needs a value"; posint --sruns "$2"; SRUNS="$2"; shift 2;;
    --slurm-cpus) [ $# -ge 2 ] || die "--slurm-cpus needs a value"; posint --slurm-cpus "$2"
                  SLURM_CPUS="$2"; shift 2;;
    --no-linux) LINUX=0; shift;;
    --slurm-only) SLURM_ONLY=1; shift;;
    --sched-params) [ $# -ge 2 ] || die "--sched-params needs a value"
                    [[ "$2" =~ ^[a-z_=0-9,]*$ ]] || die "--sched-params: expected k=v,k=v..., got '$2'"
                    SCHED_PARAMS="$2"; shift 2;;
    --run-dir-base) [ $# -ge 2 ] || die "--run-dir-base needs a value"
                    [ -d "$2" ] || die "--run-dir-base: no such directory: $2"
                    RUN_BASE="$2"; shift 2;;
    --deadline) [ $# -ge 2 ] || die "--deadline needs a value"; posint --deadline "$2"
                DEADLINE="$2"; shift 2;;
    --json) [ $# -ge 2 ] || die "--json needs a value"; JSON_OUT="$2"; shift 2;;
    --keep) KEEP=1; shift;;
    -h|--help) usage; exit 0;;
    *) usage >&2; die "unknown argument: $1";;
  esac
done

[ "$(id -u)" -eq 0 ] || die "must run as root: it installs packages with apt-get and runs slurmd"
command -v "$PY" >/dev/null || die "no $PY on PATH (set PYTHON=...)"
"$PY" -c 'import corral' 2>/dev/null || die "corral is not importable by $PY (pip install -e .)"

log() { printf '[slurm.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
trap 'echo "slurm.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

# ------------------------------------------------------------------ 1. packages
install_packages() {
  local missing=() b
  for b in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch /usr/bin/srun /usr/sbin/munged; do
    [ -x "$b" ] || missing+=("$b")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
  log "installing slurm-wlm and munge (missing: ${missing[*]})"
  # Keep the packages' maintainer scripts from starting their own munged/slurmd: this script
  # starts exactly the daemons it stops.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  local rc=0
  { timeout 600 apt-get update -q && timeout 900 apt-get install -y -q --no-install-recommends \
      slurm-wlm slurmctld slurmd slurm-client munge; } >&2 || rc=$?
  [ "$made_policy" -eq 1 ] && rm -f "$policy"
  [ "$rc" -eq 0 ] || die "apt-get install of slurm-wlm/munge failed (exit $rc)"
}
install_packages
SLURM_VERSION="$(dpkg-query -W -f='${Version}' slurmctld 2>/dev/null || echo '?')"

# ------------------------------------------------------------------ 2. run dir and cleanup
RUN="$(mktemp -d "$RUN_BASE/corral-slurm-peer-XXXXXX")"
CONF="$RUN/etc/slurm.conf"
JOBCOMP="$RUN/jobcomp.txt"
MUNGE_SOCK="$RUN/munge/munge.socket"
mkdir -p "$RUN"/{etc,state,log,munge,spool,results}
chmod 700 "$RUN/munge"

stop_pidfile() {  # TERM the pid in FILE, wait up to 5 s, then KILL; only that pid
  local f="$1" pid i
  [ -f "$f" ] || return 0
  pid="$(cat "$f" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

our_stepds() {  # slurmstepd processes that carry this run's SLURM_CONF (started by our slurmd)
  local p
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = slurmstepd ] || continue
    grep -qzxF "SLURM_CONF=$CONF" "$p/environ" 2>/dev/null && echo "${p#/proc/}"
  done
  return 0
}

SLURM_UP=0
stop_slurm() {
  [ "$SLURM_UP" -eq 1 ] || return 0
  SLURM_UP=0
  if [ -f "$RUN/slurmctld.pid" ]; then
    timeout 10 scancel --full --quiet --user=root 2>/dev/null || true  # this cluster's jobs
  fi
  stop_pidfile "$RUN/slurmd.pid"
  stop_pidfile "$RUN/slurmctld.pid"
  stop_pidfile "$RUN/munge/munged.pid"
  local pid
  for pid in $(our_stepds); do kill -KILL "$pid" 2>/dev/null || true; done
}

# Long steps run as a background child that the script waits for, so that INT/TERM reach the
# traps at once (bash defers traps while a foreground child runs). The child gets SIGINT back
# (background children of a script start with it ignored), which Python turns into
# KeyboardInterrupt: bench/launch.py and the helper then stop the clusters they started.
CHILD=""
child() {
  "$PY" -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' "$@" &
  CHILD=$!
  local rc=0
  wait "$CHILD" || rc=$?
  CHILD=""
  return "$rc"
}

stop_child() {  # the running child, if any: it may have had Ctrl-C itself; else SIGINT, KILL
  [ -n "$CHILD" ] || return 0
  local i
  for i in $(seq 10); do kill -0 "$CHILD" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$CHILD" 2>/dev/null; then
    kill -INT "$CHILD" 2>/dev/null || true
    for i in $(seq 300); do kill -0 "$CHILD" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$CHILD" 2>/dev/null && kill -KILL "$CHILD" 2>/dev/null || true
  fi
  wait "$CHILD" 2>/dev/null || true
  CHILD=""
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_child
  stop_slurm
  if [ "$KEEP" -eq 1 ]; then
    log "kept $RUN"
  else
    rm -rf "$RUN"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ 3. munge + slurm.conf
export SLURM_CONF="$CONF"
dd if=/dev/urandom of="$RUN/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$RUN/munge/munge.key"
# --force: munged runs as root with its files under the run dir, which its path checks dislike.
# 10 threads, as the HTC guide recommends.
munged --force --num-threads=10 --key-file="$RUN/munge/munge.key" --socket="$MUNGE_SOCK" \
  --pid-file="$RUN/munge/munged.pid" --log-file="$RUN/log/munged.log" \
  --seed-file="$RUN/munge/munged.seed"
SLURM_UP=1
"$PY" "$HELPER" wait-path --path "$MUNGE_SOCK" --timeout 10
munge -n -S "$MUNGE_SOCK" | unmunge -S "$MUNGE_SOCK" >/dev/null \
  || die "munged does not answer on $MUNGE_SOCK (see $RUN/log/munged.log)"

# Ports: two consecutive for slurmctld (the guide's port range) and one for slurmd, all free.
read -r CTLD_PORT SLURMD_PORT < <("$PY" "$HELPER" free-ports)
HOST="$(hostname -s)"
MEM_MB=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 / 2 ))
OVERRIDES=""
[ "$SLURM_CPUS" -gt "$(nproc)" ] && OVERRIDES="SlurmdParameters=config_overrides"

cat > "$CONF" <<EOF
# written by bench/peers/slurm.sh: one host, Slurm's high-throughput settings
ClusterName=corralpeer
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
CredType=cred/munge
StateSaveLocation=$RUN/state
SlurmdSpoolDir=$RUN/spool
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$RUN/log/slurmctld.log
SlurmdLogFile=$RUN/log/slurmd.log
# Plain processes, no cgroups: the counterpart of corral's process containerizer.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# One line per finished job (state, exit code): how this script counts completions.
JobCompType=jobcomp/filetxt
JobCompLoc=$JOBCOMP
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmdTimeout=300
InactiveLimit=0
KillWait=5
Waittime=0
MailProg=/bin/true
# --- high-throughput guide (slurm.schedmd.com/high_throughput.html), on a 2-core host:
# a port range for slurmctld, many RPC threads in munged (above), the simple FIFO scheduler
# (no backfill), no batching delay, deep queue scans and many job starts per pass, completed
# jobs purged quickly, little logging. ("defer" measured no faster here, so jobs may still
# start at submit time.)
SlurmctldPort=$CTLD_PORT-$((CTLD_PORT + 1))
SlurmdPort=$SLURMD_PORT
SchedulerType=sched/builtin
# sched_min_interval is left at its default (2 us): writing 0 is rejected by sched/builtin.
SchedulerParameters=$SCHED_PARAMS
PriorityType=priority/basic
MinJobAge=2
MaxJobCount=100000
MaxArraySize=100001
MessageTimeout=30
SlurmctldDebug=error
SlurmdDebug=error
# Declaring more CPUs than the host has lets C trivial jobs run at once (corral's bench gives
# each agent cpus:64 and each task 0.01), which needs config_overrides.
$OVERRIDES
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$SLURM_CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=bench Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

# ------------------------------------------------------------------ 4. start slurm
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "Slurm $SLURM_VERSION: starting slurmctld (ports $CTLD_PORT-$((CTLD_PORT + 1))) and slurmd ($SLURMD_PORT) under $RUN"
slurmctld -c -f "$CONF" || die "slurmctld did not start (see $RUN/log/slurmctld.log)"
"$PY" "$HELPER" wait-cmd --timeout 30 --what "slurmctld to answer" -- scontrol ping
slurmd -f "$CONF" || die "slurmd did not start (see $RUN/log/slurmd.log)"
"$PY" "$HELPER" wait-idle --timeout 60

# ------------------------------------------------------------------ 5. measure slurm
UPTIME_SLURM="$(uptime)"
BG_SLURM="$("$PY" "$HELPER" cpu-busy --seconds 2)"
log "load before Slurm: $UPTIME_SLURM; CPUs busy over 2 s: $BG_SLURM"
child "$PY" "$HELPER" measure --jobs "$JOBS" --sruns "$SRUNS" --jobcomp "$JOBCOMP" \
  --deadline "$DEADLINE" --repeat "$REPEAT" --conf "$CONF" --version "$SLURM_VERSION" \
  --uptime "$UPTIME_SLURM" --background "$BG_SLURM" --out "$RUN/results/slurm.json"
stop_slurm
log "Slurm stopped"
if [ "$SLURM_ONLY" -eq 1 ]; then
  "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1]))
print(json.dumps({k: r[k] for k in ("srun", "sbatch_loop", "array")}, indent=1))' "$RUN/results/slurm.json"
  exit 0
fi

# ------------------------------------------------------------------ 6. measure corral
cd "$ROOT"
UPTIME_CORRAL="$(uptime)"
BG_CORRAL="$("$PY" "$HELPER" cpu-busy --seconds 2)"
log "load before corral: $UPTIME_CORRAL; CPUs busy over 2 s: $BG_CORRAL"
corral_launch() {  # corral_launch NAME ARGS...: bench/launch.py --json into results/NAME.json
  local name="$1"; shift
  log "python bench/launch.py $*"
  child "$PY" bench/launch.py --json "$@" > "$RUN/results/$name.json" \
    || die "bench/launch.py $* failed (output in $RUN/results/$name.json)"
}
corral_launch corral-process --tasks "$JOBS" --runs "$REPEAT" --containerizer process --no-direct
if [ "$LINUX" -eq 1 ]; then
  corral_launch corral-linux --tasks "$JOBS" --runs "$REPEAT" --containerizer linux --no-direct
fi
# One task at a time on one agent: per-task latency without queueing.
LAT_TASKS=$(( SRUNS * 4 ))
corral_launch corral-latency --tasks "$LAT_TASKS" --agents 1 --concurrency 1 --no-direct
log "$SRUNS x corral run -- true (a new client per task)"
child "$PY" "$HELPER" corral-run --n "$SRUNS" --out "$RUN/results/corral-run.json"

# ------------------------------------------------------------------ 7. report
report_args=(--slurm "$RUN/results/slurm.json" --corral "$RUN/results/corral-process.json"
             --corral-latency "$RUN/results/corral-latency.json"
             --corral-run "$RUN/results/corral-run.json" --uptime-corral "$UPTIME_CORRAL"
             --background-corral "$BG_CORRAL")
[ "$LINUX" -eq 1 ] && report_args+=(--corral-linux "$RUN/results/corral-linux.json")
[ -n "$JSON_OUT" ] && report_args+=(--json "$JSON_OUT")
"$PY" "$HELPER" report "${report_args[@]}"
