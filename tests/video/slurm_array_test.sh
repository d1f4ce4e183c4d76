#!/bin/bash
# A real single-node Slurm cluster runs `lucid-video restore --manifest` as a 4-task array job
# (label slow; needs root, Debian's slurm-wlm + munge and the ffmpeg CLI, else it skips, 77).
# Every clip of the manifest must come out exactly once, bit-exact in its decoded frames (identity
# restorer), with no failures, temporary files or work folders left.
#   usage: slurm_array_test.sh path/to/lucid-video
# What worked here (DESIGN.md): munged as the munge user with a generated key; slurm.conf with
# proctrack/linuxproc, task/none, select/cons_tres; state, spool and logs under a temp dir;
# SLURM_CONF pointing at it; `sbatch --array=0-3 --wait`.
set -u
CLI=$(readlink -f "$1")
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (slurmd runs jobs as root here)"
for c in munged slurmctld slurmd sbatch sinfo ffmpeg runuser; do command -v $c >/dev/null || skip "no $c (apt-get install slurm-wlm munge ffmpeg)"; done
id munge >/dev/null 2>&1 || skip "no munge user"

T=$(mktemp -d /tmp/lucid-slurm.XXXXXX)
chmod 755 "$T"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$T"/slurmctld.log "$T"/slurmd.log "$T"/munge/munged.log "$T"/task-*.out; do [ -f "$f" ] && { echo "== $f"; tail -20 "$f"; }; done
  exit 1
}

# munge: own key, socket and logs, run as the munge user.
mkdir -p "$T/munge"
dd if=/dev/urandom of="$T/munge/munge.key" bs=1024 count=1 status=none
chown -R munge:munge "$T/munge"
chmod 700 "$T/munge"
chmod 400 "$T/munge/munge.key"
SOCK="$T/munge/munge.socket"
runuser -u munge -- munged --force --key-file="$T/munge/munge.key" --socket="$SOCK" \
  --pid-file="$T/munge/munged.pid" --log-file="$T/munge/munged.log" --seed-file="$T/munge/munged.seed" ||
  fail "munged did not start"
for i in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
PIDS+=("$(cat "$T/munge/munged.pid")")
chmod 711 "$T/munge"  # slurm daemons (root) reach the socket

HOST=$(hostname -s)
PORT=$((20000 + RANDOM % 20000))
mkdir -p "$T/state" "$T/spool"
cat > "$T/slurm.conf" <<CONF
ClusterName=lucidtest
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$SOCK
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
NodeName=$HOST CPUs=$(nproc) RealMemory=1000 State=UNKNOWN
PartitionName=lucid Nodes=ALL Default=YES MaxTime=10 State=UP
CONF
export SLURM_CONF="$T/slurm.conf"
slurmctld -D -i >/dev/null 2>&1 &
PIDS+=($!)
slurmd -D >/dev/null 2>&1 &
PIDS+=($!)
up=""
for i in $(seq 100); do
  st=$(sinfo -h -o %T 2>/dev/null | head -1)
  [ "$st" = idle ] && { up=1; break; }
  sleep 0.2
done
[ -n "$up" ] || fail "the node did not come up (state '${st:-}')"

# Six small clips (x264 / x265 / 10-bit, some with AAC), one manifest, 4 array tasks.
mkdir -p "$T/clips" "$T/out"
for i in 0 1 2 3 4 5; do
  audio=""
  case $i in
    0|3) args="-c:v libx264 -pix_fmt yuv420p" ;;
    1|4) args="-c:v libx265 -x265-params log-level=error -pix_fmt yuv420p10le" ;;
    *) audio="-f lavfi -i sine=sample_rate=48000"; args="-c:v libx264 -pix_fmt yuv420p -c:a aac" ;;
  esac
  ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=96x64:rate=25 $audio -t 0.$((3 + i)) $args -y "$T/clips/clip$i.mp4" ||
    fail "ffmpeg could not make clip $i"
  echo "$T/clips/clip$i.mp4" >> "$T/list.txt"
done
sbatch --array=0-3 --wait -o "$T/task-%a.out" -J lucid-video \
  --wrap "'$CLI' restore --model identity --manifest '$T/list.txt' -o '$T/out' --json" >"$T/sbatch.out" 2>&1 ||
  fail "sbatch: $(cat "$T/sbatch.out")"

n=$(ls "$T/out"/*.mkv 2>/dev/null | wc -l)
[ "$n" = 6 ] || fail "expected 6 outputs, found $n: $(ls -a "$T/out")"
for i in 0 1 2 3 4 5; do
  a=$(ffmpeg -v error -i "$T/clips/clip$i.mp4" -map 0:v -f framemd5 - | grep -v '^#' | awk -F, '{print $NF}' | md5sum)
  b=$(ffmpeg -v error -i "$T/out/clip$i.mkv" -map 0:v -f framemd5 - | grep -v '^#' | awk -F, '{print $NF}' | md5sum)
  [ "$a" = "$b" ] || fail "clip$i: decoded frames differ"
done
for s in 0 1 2 3; do
  f="$T/out/failures-$s-of-4.json"
  [ -f "$f" ] || fail "task $s wrote no $f"
  grep -q '"failures": \[\]' "$f" || fail "task $s recorded failures: $(cat "$f")"
  grep -q '"source": "slurm"' "$T/task-$s.out" || fail "task $s did not take its shard from Slurm: $(cat "$T/task-$s.out")"
done
# Each clip restored by exactly one task.
r=$(cat "$T"/task-*.out | grep -c '"output":')
[ "$r" = 6 ] || fail "expected 6 restored items over all tasks, found $r"
left=$(ls -a "$T/out" | grep -c -e lucid-tmp -e lucid-work)
[ "$left" = 0 ] || fail "left-overs in the output folder: $(ls -a "$T/out")"
echo "PASS: 4 Slurm array tasks restored 6 clips, each once, bit-exact"
