#!/usr/bin/env bash
# A real single-node Slurm, and GNU parallel, running one tiny sweep: their results must equal a
# local `distill sweep run` of the same plan byte for byte (issue 10, target 1).
#
#   tests/slurm/run.sh            (from .ci/run, after `cargo test --release`; needs root the
#                                  first time, to apt-get install slurm-wlm munge parallel)
#
# Starts munged, slurmctld and slurmd as background processes with all their state in a temp
# folder (no systemd), and stops them by their PIDs on exit, failure included. Never skips:
# a missing tool that cannot be installed is a failure. KEEP=1 keeps the temp folder.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DISTILL=${DISTILL:-$ROOT/target/release/distill}
[ -x "$DISTILL" ] || { echo "FAIL: $DISTILL missing (cargo build --release first)"; exit 1; }
say() { echo "[slurm test $(date -u +%T)] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# ----- packages ------------------------------------------------------------------------------
missing=()
for tool in munged mungekey slurmctld slurmd sbatch squeue sinfo scancel parallel; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || fail "missing ${missing[*]} and not root: install slurm-wlm munge parallel"
  say "installing slurm-wlm munge parallel (missing: ${missing[*]})"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurm-wlm munge parallel >/dev/null
fi

# ----- daemons -------------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/distill-slurm.XXXXXX)
chmod 755 "$WORK" # munged refuses a socket folder that is not o+x or is group/other-writable
MUNGED_PID= SLURMCTLD_PID= SLURMD_PID=
export SLURM_CONF=$WORK/slurm.conf

stop() { # stop PID by TERM, KILL after 10 s; a zombie (state Z) counts as gone
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo gone)
    [ "$state" = gone ] || [ "$state" = Z ] && break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
teardown() {
  local status=$?
  if [ -n "$SLURMCTLD_PID" ]; then
    squeue -h -o %i 2>/dev/null | xargs -r scancel 2>/dev/null || true
  fi
  if [ $status -ne 0 ]; then
    for log in "$WORK"/slurmctld.log "$WORK"/slurmd.log "$WORK"/munged.log "$WORK"/a/slurm/logs/*; do
      [ -f "$log" ] && { echo "----- $log (last lines)"; tail -n 15 "$log"; }
    done
  fi
  stop "$SLURMD_PID"; stop "$SLURMCTLD_PID"; stop "$MUNGED_PID"
  if [ "${KEEP:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
  [ $status -eq 0 ] && say "PASS" || echo "FAIL (status $status)" >&2
  exit $status
}
trap teardown EXIT

mungekey --create --keyfile="$WORK/munge.key" 2>/dev/null
chmod 600 "$WORK/munge.key"
munged --foreground --key-file="$WORK/munge.key" --socket="$WORK/munge.socket" \
  --pid-file="$WORK/munged.pid" --seed-file="$WORK/munge.seed" --log-file="$WORK/munged.log" \
  >/dev/null 2>&1 &
MUNGED_PID=$!
for _ in $(seq 100); do [ -S "$WORK/munge.socket" ] && break; sleep 0.1; done
[ -S "$WORK/munge.socket" ] || fail "munged did not start"

HOST=$(hostname -s)
mem_kb=$(awk '/MemTotal/ {print $2}' /proc/meminfo)
node=$(slurmd -C | head -n 1 | sed -E "s/RealMemory=[0-9]+/RealMemory=$((mem_kb * 9 / 10 / 1024))/")
mkdir -p "$WORK/state" "$WORK/spool"
: > "$WORK/plugstack.conf"
cat > "$SLURM_CONF" <<CONF
ClusterName=distill-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$WORK/munge.socket
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
PlugStackConfig=$WORK/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$WORK/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
MinJobAge=600
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -D -i -c -f "$SLURM_CONF" >/dev/null 2>&1 &
SLURMCTLD_PID=$!
slurmd -D -f "$SLURM_CONF" >/dev/null 2>&1 &
SLURMD_PID=$!
for _ in $(seq 300); do
  [ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ] && break
  sleep 0.1
done
[ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ] || fail "the node did not come up idle"
say "one-node cluster up: $node"

# ----- the same plan three times -------------------------------------------------------------
GRID=(--train-limit 3000 --epochs 2 --teacher-hidden 64 --student-hidden 30,30
      --temperature 2,4 --seeds 2 --slurm-cpus 1 --slurm-time 00:15:00 --quiet)
for d in a b c; do "$DISTILL" sweep plan --out "$WORK/$d" "${GRID[@]}"; done
cmp "$WORK/a/plan.json" "$WORK/b/plan.json"
cmp "$WORK/a/plan.json" "$WORK/c/plan.json"
jobs=$(wc -l < "$WORK/a/jobs.txt")

say "Slurm: submitting $jobs jobs"
"$WORK/a/slurm/submit.sh"
deadline=$((SECONDS + 900))
while [ -n "$(squeue -h -o %i)" ]; do
  [ $SECONDS -lt $deadline ] || fail "the queue did not drain in 15 minutes"
  sleep 1
done
completed=$(grep -c 'JobState=COMPLETED' "$WORK/jobcomp.txt" || true)
[ "$completed" -eq "$jobs" ] || fail "$completed of $jobs array tasks COMPLETED: $(grep -v COMPLETED "$WORK/jobcomp.txt")"
"$DISTILL" sweep report "$WORK/a" | grep -q "^$jobs of $jobs jobs complete" || fail "report on the Slurm sweep"

say "local: distill sweep run --jobs 2"
"$DISTILL" sweep run "$WORK/b" --jobs 2 --quiet
"$DISTILL" sweep report "$WORK/b" >/dev/null

say "GNU parallel: teachers, then students"
parallel --will-cite -j 2 < "$WORK/c/jobs.teachers.txt"
parallel --will-cite -j 2 < "$WORK/c/jobs.students.txt"
"$DISTILL" sweep report "$WORK/c" >/dev/null

# ----- byte for byte -------------------------------------------------------------------------
numbers() { # result.json without its timings (train_seconds, teacher_logits_seconds, history.seconds)
  awk '/"seconds": \[/ { skip = 1 } skip { if (/\]/) skip = 0; next }
       !/"(train_seconds|teacher_logits_seconds)":/' "$1"
}
for other in a c; do
  n=0
  for job in "$WORK"/b/jobs/*/; do
    id=$(basename "$job")
    for ckpt in "$job"*.safetensors; do
      cmp "$ckpt" "$WORK/$other/jobs/$id/$(basename "$ckpt")" || fail "$other: $id checkpoint differs"
    done
    diff <(numbers "$job/result.json") <(numbers "$WORK/$other/jobs/$id/result.json") \
      || fail "$other: $id result.json numbers differ"
    n=$((n + 1))
  done
  [ "$n" -eq "$jobs" ] || fail "$n of $jobs jobs compared"
  cmp "$WORK/b/summary.json" "$WORK/$other/summary.json" || fail "$other: summary.json differs"
done
say "Slurm, GNU parallel and sweep run agree on all $jobs results and checkpoints"
