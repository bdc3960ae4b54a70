#!/usr/bin/env bash
# Profile a mixnode under the loopback load of `bench router`. See --help.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: load-profile.sh [--seconds N] [--out DIR] [--router-core N] [--load-core N]
                       [--warmup S] [--call-graph dwarf|fp] [--no-build] [--bench-bin PATH]

Runs the loopback load harness (`bench router --skip-baseline --json`: one mixnode with one
shard pinned to --router-core, a load generator and a sink pinned to --load-core), finds the
mixnode it started, and while it is loaded records, one after the other:
  pin.sh        thread placement and interrupt rates            -> DIR/pin.txt
  perf-stat.sh  per-thread counters for N seconds               -> DIR/perf-stat.txt, .csv
  flamegraph.sh CPU flamegraph for N seconds                    -> DIR/flamegraph.svg, .txt,
                                                                   DIR/stacks.folded
then waits for the bench and keeps its report (DIR/bench.json, log in DIR/bench.log), the
host check (DIR/os-tune.txt) and what ran where (DIR/system.txt).

The bench's duration is set to cover warm-up and both profiles. Its throughput figures are
taken WITH the profilers attached (dwarf sampling costs a few percent): compare them with
an unprofiled `bench router` run, not with BENCHMARKS.md.

Binaries: target/bench/{bench,mixnode} (release code with line tables: readable profiles).
If they are missing it builds them first:
  cargo build --profile bench -p mixnode -p bench
(minutes on 2 cores; --no-build uses target/release instead, with symbols but no line tables).

Options:
  --seconds N        length of each profile (default 15)
  --out DIR          where the results go (default ./load-profile-YYYYmmdd-HHMMSS)
  --router-core N    core of the mixnode's shard (default 0)
  --load-core N      core of the load generator and sink (default 1)
  --warmup S         seconds of load before profiling starts (default 3)
  --call-graph MODE  passed to flamegraph.sh: dwarf (default) or fp
  --no-build         never build; use whatever binaries exist
  --bench-bin PATH   use this bench binary (it must start a process named mixnode)
  -h, --help         this help

Example:
  perf-scripts/load-profile.sh --seconds 20 --out /tmp/lp1

Reading the results: perf-scripts/README.md.
EOF
}

seconds=15 out="" router_core=0 load_core=1 warmup=3 callgraph=dwarf build=1 bench_bin=""
while [[ $# -gt 0 ]]; do
    case "$1" in
    --seconds) need_arg "$@"; seconds="$2"; shift 2 ;;
    --out) need_arg "$@"; out="$2"; shift 2 ;;
    --router-core) need_arg "$@"; router_core="$2"; shift 2 ;;
    --load-core) need_arg "$@"; load_core="$2"; shift 2 ;;
    --warmup) need_arg "$@"; warmup="$2"; shift 2 ;;
    --call-graph) need_arg "$@"; callgraph="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --bench-bin) need_arg "$@"; bench_bin="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
for v in seconds router_core load_core warmup; do
    is_uint "${!v}" || die "--${v//_/-} needs a whole number, got '${!v}'"
done
((seconds > 0)) || die "--seconds must be positive"
case "$callgraph" in dwarf | fp) ;; *) die "--call-graph is dwarf or fp" ;; esac
online="$(online_cpus)"
for c in "$router_core" "$load_core"; do
    [[ " $online " == *" $c "* ]] || die "CPU $c is not online (online: $(cpu_list_compress "$online"))"
done
[[ "$router_core" != "$load_core" ]] ||
    warn "--router-core and --load-core are both $router_core: the load generator will steal the shard's core"

root="$(repo_root)"
if [[ -z "$bench_bin" ]]; then
    if [[ -x "$root/target/bench/bench" && -x "$root/target/bench/mixnode" ]]; then
        bench_bin="$root/target/bench/bench"
    elif ((build)); then
        command -v cargo >/dev/null 2>&1 || die "cargo not found: cannot build target/bench binaries"
        log "building the bench profile: cargo build --profile bench -p mixnode -p bench (in $root)"
        (cd "$root" && cargo build --profile bench -p mixnode -p bench) || die "build failed"
        bench_bin="$root/target/bench/bench"
    elif [[ -x "$root/target/release/bench" && -x "$root/target/release/mixnode" ]]; then
        bench_bin="$root/target/release/bench"
        log "note: --no-build: using target/release (symbols, no line tables)"
    else
        die "no bench/mixnode binaries in target/bench or target/release (drop --no-build to build them)"
    fi
fi
[[ -x "$bench_bin" ]] || die "bench binary $bench_bin is not executable"

[[ -n "$out" ]] || out="./load-profile-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# Install what the profiles need now, not while the load runs.
ensure_perf
ensure_inferno

# Bench duration: start-up slack + warm-up + pin sample + both profiles + a margin.
duration=$((10 + warmup + 2 + 2 * seconds + 10))

{
    echo "date:        $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host:        $(uname -n), kernel $(uname -r), $(nproc) CPUs"
    echo "cpu:         $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo '?')"
    echo "repo:        $root @ $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet 2>/dev/null || echo ' (dirty)')"
    echo "bench:       $bench_bin"
    echo "perf:        $(perf --version 2>/dev/null || echo '?')"
    if hw_event_supported instructions; then echo "hw counters: yes"; else echo "hw counters: no (software events only)"; fi
    echo "command:     $bench_bin router --skip-baseline --duration-secs $duration --router-core $router_core --load-core $load_core --json"
    echo "profiles:    warm-up ${warmup}s, perf stat ${seconds}s, flamegraph ${seconds}s ($callgraph)"
} >"$out/system.txt"

"$PERF_SCRIPTS_DIR/os-tune.sh" --check >"$out/os-tune.txt" 2>&1 || warn "os-tune.sh --check failed (see $out/os-tune.txt)"

before=" $(pgrep -x mixnode | tr '\n' ' ' || true) "
log "starting load for ${duration}s: $(basename "$bench_bin") router --skip-baseline (router core $router_core, load core $load_core)"
"$bench_bin" router --skip-baseline --duration-secs "$duration" \
    --router-core "$router_core" --load-core "$load_core" --json >"$out/bench.json" 2>"$out/bench.log" &
bench_pid=$!
node_pid=""

cleanup() {
    local rc=$?
    if kill -0 "$bench_pid" 2>/dev/null; then
        log "stopping bench (pid $bench_pid)"
        kill -TERM "$bench_pid" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$bench_pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$bench_pid" 2>/dev/null || true
    fi
    if [[ -n "$node_pid" ]] && kill -0 "$node_pid" 2>/dev/null &&
        [[ "$(cat "/proc/$node_pid/comm" 2>/dev/null)" == mixnode ]]; then
        log "stopping the mixnode the bench started (pid $node_pid)"
        kill -TERM "$node_pid" 2>/dev/null || true
    fi
    ((rc == 0)) || log "stopped with status $rc; partial results in $out"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The mixnode the bench starts: its child if possible, else the newest one that was not there before.
for _ in $(seq 1 300); do
    kill -0 "$bench_pid" 2>/dev/null || break
    node_pid="$(pgrep -n -x -P "$bench_pid" mixnode 2>/dev/null || true)"
    if [[ -z "$node_pid" ]]; then
        cand="$(pgrep -n -x mixnode 2>/dev/null || true)"
        [[ -z "$cand" || "$before" == *" $cand "* ]] || node_pid="$cand"
    fi
    [[ -z "$node_pid" ]] || break
    sleep 0.2
done
if [[ -z "$node_pid" ]]; then
    rc=0
    kill -0 "$bench_pid" 2>/dev/null || wait "$bench_pid" || rc=$?
    tail -n 20 "$out/bench.log" >&2 || true
    die "no mixnode process appeared (bench exit status $rc; log above, in $out/bench.log)"
fi
echo "mixnode:     pid $node_pid ($(readlink "/proc/$node_pid/exe" 2>/dev/null || echo '?'))" >>"$out/system.txt"
log "mixnode pid $node_pid; warming up ${warmup}s"
sleep "$warmup"

alive() { kill -0 "$node_pid" 2>/dev/null || { warn "the mixnode (pid $node_pid) exited: stopping the profiles"; return 1; }; }

step() { # NAME OUTFILE COMMAND...
    local name="$1" file="$2"
    shift 2
    alive || return 1
    log "$name ..."
    if "$@" >"$file" 2>&1; then
        cat "$file"
    else
        cat "$file"
        warn "$name failed (output in $file)"
    fi
    echo
}
ok=1
step "pin.sh" "$out/pin.txt" "$PERF_SCRIPTS_DIR/pin.sh" --pid "$node_pid" --sample 1 || ok=0
((ok)) && { step "perf-stat.sh (${seconds}s)" "$out/perf-stat.txt" \
    "$PERF_SCRIPTS_DIR/perf-stat.sh" --pid "$node_pid" --seconds "$seconds" --csv "$out/perf-stat.csv" || ok=0; }
((ok)) && { step "flamegraph.sh (${seconds}s)" "$out/flamegraph.txt" \
    "$PERF_SCRIPTS_DIR/flamegraph.sh" --pid "$node_pid" --seconds "$seconds" --call-graph "$callgraph" \
    --out "$out/flamegraph.svg" --folded "$out/stacks.folded" || ok=0; }

log "profiles done; waiting for the bench to finish (at most $((duration + 60))s after its start)"
bench_rc=0
waited=0
while kill -0 "$bench_pid" 2>/dev/null && ((waited < duration + 60)); do
    sleep 1
    waited=$((waited + 1))
done
if kill -0 "$bench_pid" 2>/dev/null; then
    warn "bench still running after its duration: stopping it"
    kill -TERM "$bench_pid" 2>/dev/null || true
fi
wait "$bench_pid" || bench_rc=$?
echo "bench exit:  $bench_rc" >>"$out/system.txt"

echo "== results in $out"
find "$out" -maxdepth 1 -type f -printf '  %f (%s bytes)\n' | sort
if ((bench_rc != 0)); then
    warn "bench exited with status $bench_rc: see $out/bench.log"
elif [[ -s "$out/bench.json" ]]; then
    echo "== bench report ($out/bench.json):"
    head -n 60 "$out/bench.json"
fi
((ok)) || exit 1
