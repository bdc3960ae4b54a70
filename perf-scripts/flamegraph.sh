#!/usr/bin/env bash
# CPU flamegraph of a running mixnode: perf record + inferno. See --help.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: flamegraph.sh (--pid PID | --id ID [--home DIR]) [--seconds N] [--out FILE.svg]
                     [--call-graph dwarf|fp] [--freq HZ] [--shards-only] [--folded FILE]

Samples where a running mixnode spends CPU time, with stacks, for N seconds
(`perf record -F 999 -g --call-graph dwarf`), and renders an interactive SVG flamegraph with
inferno (inferno-collapse-perf | inferno-flamegraph). The widest towers are where the time
goes; each tower's root is the thread name (shard-0, shard-1, ...). Also prints the top
functions by self time. perf.data lives in a temp dir that is removed at exit.

Event: `cycles` when the CPU exposes hardware counters, else the `cpu-clock` software event
(typical of VMs; the script says which). Both sample on-CPU time only: time a shard spends
parked or blocked does not show.

Call graphs:
  dwarf (default)  perf copies 8 KiB of stack per sample and unwinds it afterwards with the
                   binary's debug info. Works on Rust release builds (no frame pointers);
                   costs more: ~8 MB/s of perf.data per busy thread and a slower `perf script`,
                   and very deep stacks get cut at 8 KiB.
  fp               frame pointers: cheap and small, but Rust release builds omit frame
                   pointers, so stacks come out truncated or wrong unless the node was built
                   with RUSTFLAGS="-C force-frame-pointers=yes".

Options:
  --pid PID           the node's process id
  --id ID             the node id: reads the pid from HOME/mixnodes/ID/mixnode.pid
  --home DIR          node home (default: $MIXNET_HOME, else ~/.mixnet)
  --seconds N         how long to sample (default 20)
  --out FILE.svg      where to write the flamegraph (default ./mixnode-flamegraph-PID-TIME.svg)
  --call-graph MODE   dwarf (default) or fp; see above
  --freq HZ           sampling frequency (default 999: off the 1000 Hz timer beat)
  --shards-only       sample only the shard-N threads
  --folded FILE       also keep the collapsed stacks (text; compare two runs with
                      `inferno-diff-folded before.folded after.folded | inferno-flamegraph`)
  --inline            resolve inlined frames via addr2line (more detail, can take minutes)
  -h, --help          this help

Example:
  perf-scripts/flamegraph.sh --id mix1 --seconds 30 --out /tmp/mix1.svg

Symbols: profile a binary built with the `bench` profile (release code plus line tables):
  cargo build --profile bench -p mixnode     # -> target/bench/mixnode
A stripped binary gives addresses instead of names.
Needs perf (as root it installs Debian's linux-perf if missing) and inferno (installed with
`cargo install inferno --locked` if missing; set CARGO_BUILD_JOBS=1 on a busy machine).
What the shapes mean: perf-scripts/README.md, section "flamegraph.sh".
EOF
}

pid="" id="" home="" seconds=20 out="" callgraph="dwarf" freq=999 shards_only=0 folded="" inline=0
while [[ $# -gt 0 ]]; do
    case "$1" in
    --pid) need_arg "$@"; pid="$2"; shift 2 ;;
    --id) need_arg "$@"; id="$2"; shift 2 ;;
    --home) need_arg "$@"; home="$2"; shift 2 ;;
    --seconds) need_arg "$@"; seconds="$2"; shift 2 ;;
    --out) need_arg "$@"; out="$2"; shift 2 ;;
    --call-graph) need_arg "$@"; callgraph="$2"; shift 2 ;;
    --freq) need_arg "$@"; freq="$2"; shift 2 ;;
    --shards-only) shards_only=1; shift ;;
    --folded) need_arg "$@"; folded="$2"; shift 2 ;;
    --inline) inline=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
if ! is_uint "$seconds" || ((seconds == 0)); then die "--seconds needs a positive whole number"; fi
if ! is_uint "$freq" || ((freq == 0)); then die "--freq needs a positive whole number"; fi
case "$callgraph" in
dwarf | fp) ;;
*) die "--call-graph is dwarf or fp, got '$callgraph'" ;;
esac

pid="$(resolve_pid "$pid" "$id" "$home")"
[[ -n "$out" ]] || out="./mixnode-flamegraph-$pid-$(date +%Y%m%d-%H%M%S).svg"
[[ "$out" == *.svg ]] || log "note: --out $out does not end in .svg"
out_dir="$(dirname "$out")"
[[ -d "$out_dir" && -w "$out_dir" ]] || die "cannot write to $out_dir"

ensure_perf
perf_access_hint

ensure_inferno

if hw_event_supported cycles; then
    event="cycles"
else
    event="cpu-clock"
    log "hardware counters unsupported here (VM?): sampling the cpu-clock software event instead of cycles"
fi

target=(-p "$pid")
if ((shards_only)); then
    tids="$(threads "$pid" | awk -F'\t' '$2 ~ /^shard-[0-9]+$/ { printf "%s%s", sep, $1; sep = "," }')"
    [[ -n "$tids" ]] || die "--shards-only: process $pid has no thread named shard-N"
    target=(-t "$tids")
fi

symbol_hint "$pid"
exe="$(readlink "/proc/$pid/exe" 2>/dev/null || echo '?')"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/flamegraph.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

if [[ "$callgraph" == dwarf ]]; then
    log "sampling pid $pid for ${seconds}s ($event @ ${freq} Hz, dwarf call graphs: ~8 MB/s per busy thread in $tmp)"
else
    log "sampling pid $pid for ${seconds}s ($event @ ${freq} Hz, frame-pointer call graphs)"
fi
perf record -e "$event" -F "$freq" -g --call-graph "$callgraph" "${target[@]}" \
    -o "$tmp/perf.data" -- sleep "$seconds" 2> >(grep -v -e '^\[ perf record: ' >&2) ||
    die "perf record failed (did the node exit? permission? see above)"
log "perf.data: $(du -h "$tmp/perf.data" | cut -f1); resolving stacks (perf script) ..."

script_opts=()
((inline)) || script_opts+=(--no-inline)
perf script -i "$tmp/perf.data" "${script_opts[@]}" 2>"$tmp/script.err" |
    inferno-collapse-perf >"$tmp/stacks.folded" || {
    cat "$tmp/script.err" >&2
    die "perf script | inferno-collapse-perf failed"
}
[[ -s "$tmp/stacks.folded" ]] ||
    die "no samples: was the node idle (off-CPU time does not show) or did perf lose access?"

# inferno-collapse-perf weighs each stack by the sample's period: nanoseconds of CPU time for
# cpu-clock, cycles for cycles. (mawk's %d stops at 2^31: print with %.0f.)
total="$(awk '{ n += $NF } END { printf "%.0f\n", n }' "$tmp/stacks.folded")"
if [[ "$event" == cpu-clock ]]; then
    countname="ns"
    weight="$(awk -v t="$total" 'BEGIN { printf "%.2f s of CPU time", t / 1e9 }')"
else
    countname="cycles"
    weight="$(awk -v t="$total" 'BEGIN { printf "%.3g cycles", t }')"
fi
title="mixnode pid $pid: $event @ ${freq} Hz, $callgraph stacks, ${seconds}s, $weight"
inferno-flamegraph --title "$title" --subtitle "$exe, $(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --colors rust --countname "$countname" <"$tmp/stacks.folded" >"$out" ||
    die "inferno-flamegraph failed"
[[ -z "$folded" ]] || cp "$tmp/stacks.folded" "$folded"

echo "== flamegraph: $out ($weight sampled, $event, $callgraph call graphs)"
[[ -z "$folded" ]] || echo "== folded stacks: $folded"
echo "== top 15 functions by self time (the frame on top of the stack when sampled):"
awk '{
    n = $NF; line = $0; sub(/ [0-9]+$/, "", line)
    k = split(line, fr, ";"); leaf = fr[k]
    self[leaf] += n; total += n
} END {
    for (f in self) printf "%.0f\t%s\n", self[f], f
}' "$tmp/stacks.folded" | sort -t$'\t' -k1,1nr | head -n 15 |
    awk -F'\t' -v total="$total" '{ f = $2; if (length(f) > 100) f = substr(f, 1, 97) "..."
        printf "  %6.2f%%  %s\n", 100 * $1 / total, f }'
echo "== per thread:"
awk '{ n = $NF; split($0, fr, ";"); t[fr[1]] += n; total += n }
     END { for (k in t) printf "  %6.2f%%  %s\n", 100 * t[k] / total, k }' "$tmp/stacks.folded" | sort -k1,1nr | head -n 20
echo "What the shapes mean and what to do: perf-scripts/README.md, section \"flamegraph.sh\"."
