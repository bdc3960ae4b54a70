#!/usr/bin/env bash
# perf stat counters of a running mixnode, per thread. See --help.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: perf-stat.sh (--pid PID | --id ID [--home DIR]) [--seconds N] [--csv FILE] [--aggregate]

Counts, for N seconds, what each thread of a running mixnode costs, with `perf stat --per-thread`:
  task-clock (CPU time; shown as CPU% of one core), context switches (split into voluntary =
  the thread blocked or parked, and involuntary = preempted, from /proc), cpu-migrations,
  page-faults, and where the CPU exposes hardware counters: cycles, instructions, IPC,
  cache-references/-misses and branches/branch-misses.
Then prints findings (shard thread migrated, preempted, saturated, low IPC, ...).

On VMs hardware counters are often unsupported (`perf stat -e instructions true` shows
<not supported>); the script then counts software events only and says so: no IPC, cache
or branch figures on such a machine.

Options:
  --pid PID      the node's process id
  --id ID        the node id: reads the pid from HOME/mixnodes/ID/mixnode.pid
  --home DIR     node home (default: $MIXNET_HOME, else ~/.mixnet)
  --seconds N    how long to count (default 10)
  --csv FILE     also keep perf's raw CSV output in FILE
  --aggregate    one total for the process (perf's own report, with its derived metrics)
                 instead of the per-thread table
  -h, --help     this help

Example:
  perf-scripts/perf-stat.sh --id mix1 --seconds 30
  perf-scripts/perf-stat.sh --pid "$(pgrep -n -x mixnode)"

Needs perf (as root it installs Debian's linux-perf if missing) and permission to attach:
root, or kernel.perf_event_paranoid <= 1 for your own processes.
What the numbers mean and what to do: perf-scripts/README.md, section "perf-stat.sh".
EOF
}

pid="" id="" home="" seconds=10 csv="" aggregate=0
while [[ $# -gt 0 ]]; do
    case "$1" in
    --pid) need_arg "$@"; pid="$2"; shift 2 ;;
    --id) need_arg "$@"; id="$2"; shift 2 ;;
    --home) need_arg "$@"; home="$2"; shift 2 ;;
    --seconds) need_arg "$@"; seconds="$2"; shift 2 ;;
    --csv) need_arg "$@"; csv="$2"; shift 2 ;;
    --aggregate) aggregate=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
if ! is_uint "$seconds" || ((seconds == 0)); then die "--seconds needs a positive whole number"; fi

pid="$(resolve_pid "$pid" "$id" "$home")"
ensure_perf
perf_access_hint

sw_events="task-clock,context-switches,cpu-migrations,page-faults"
hw_events=()
for ev in cycles instructions cache-references cache-misses branches branch-misses; do
    if hw_event_supported "$ev"; then hw_events+=("$ev"); fi
done
events="$sw_events"
if ((${#hw_events[@]} == 0)); then
    hw_note="hardware counters are NOT supported on this machine (typical of VMs): counting software events only ($sw_events); IPC, cache and branch misses cannot be measured here"
else
    events="$events,$(IFS=,; printf '%s' "${hw_events[*]}")"
    hw_note="hardware counters: ${hw_events[*]}"
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/perf-stat.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

exe="$(readlink "/proc/$pid/exe" 2>/dev/null || echo '?')"
echo "== perf stat: pid $pid ($exe), ${seconds}s, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "== $hw_note"

if ((aggregate)); then
    perf stat -p "$pid" -e "$events" -o "$tmp/perf.txt" -- sleep "$seconds" ||
        die "perf stat failed (did the node exit? permission? see above)"
    cat "$tmp/perf.txt"
    [[ -z "$csv" ]] || cp "$tmp/perf.txt" "$csv"
    echo
    echo "How to read this: perf-scripts/README.md, section \"perf-stat.sh\"."
    exit 0
fi

# Context switches per thread before and after, from /proc: perf's context-switches does not
# tell a thread that blocked (voluntary) from one that was preempted (involuntary).
snapshot() {
    local tid name
    while IFS=$'\t' read -r tid name; do
        printf '%s %s\n' "$tid" "$(ctx_switches "$pid" "$tid" || echo '0 0')"
    done < <(threads "$pid")
}
snapshot >"$tmp/ctx.before"
perf stat --per-thread -x, -p "$pid" -e "$events" -o "$tmp/perf.csv" -- sleep "$seconds" ||
    die "perf stat failed (did the node exit? permission? see above)"
snapshot >"$tmp/ctx.after" 2>/dev/null || true
threads "$pid" >"$tmp/threads" 2>/dev/null || true
[[ -z "$csv" ]] || cp "$tmp/perf.csv" "$csv"

awk -F, -v secs="$seconds" -v hw="${#hw_events[@]}" \
    -v ctxb="$tmp/ctx.before" -v ctxa="$tmp/ctx.after" '
function num(v) { return (v ~ /^[0-9.]+$/) ? v + 0 : -1 }
function fmt(v) { return v < 0 ? "-" : sprintf("%.0f", v) }
function human(v) {
    if (v < 0) return "-"
    if (v >= 1e9) return sprintf("%.2fG", v / 1e9)
    if (v >= 1e6) return sprintf("%.2fM", v / 1e6)
    if (v >= 1e4) return sprintf("%.1fk", v / 1e3)
    return sprintf("%.0f", v)
}
function pct(a, b) { return (a < 0 || b <= 0) ? "-" : sprintf("%.1f%%", 100 * a / b) }
BEGIN {
    while ((getline line < ctxb) > 0) { split(line, f, " "); vb[f[1]] = f[2]; nb[f[1]] = f[3] }
    while ((getline line < ctxa) > 0) { split(line, f, " "); va[f[1]] = f[2]; na[f[1]] = f[3] }
}
/^#/ || NF < 4 { next }
{
    key = $1
    n = split(key, parts, "-")
    tid = parts[n]
    name = substr(key, 1, length(key) - length(tid) - 1)
    if (!(tid in seen)) { seen[tid] = 1; order[++nt] = tid; tname[tid] = name }
    val[tid, $4] = num($2)
}
END {
    if (nt == 0) { print "perf stat produced no per-thread counts"; exit 1 }
    evs = "task-clock context-switches cpu-migrations page-faults cycles instructions cache-references cache-misses branches branch-misses"
    ne = split(evs, ev, " ")
    hdr = sprintf("%-16s %8s %6s %8s %7s %7s %6s %7s", "THREAD", "TID", "CPU%", "CTXSW", "VOL", "INVOL", "MIGR", "FAULTS")
    if (hw > 0) hdr = hdr sprintf(" %8s %8s %5s %9s %8s", "CYCLES", "INSNS", "IPC", "CACHE-MISS", "BR-MISS")
    print hdr
    shown = 0; idle = 0
    # shard threads first (by shard number), then the rest by CPU time
    ns = 0; no = 0
    for (i = 1; i <= nt; i++) {
        t = order[i]
        if (tname[t] ~ /^shard-[0-9]+$/) { s[++ns] = t; sk[ns] = substr(tname[t], 7) + 0 }
        else { o[++no] = t; ok[no] = val[t, "task-clock"] }
    }
    for (i = 2; i <= ns; i++) for (j = i; j > 1 && sk[j] < sk[j-1]; j--) { x = s[j]; s[j] = s[j-1]; s[j-1] = x; y = sk[j]; sk[j] = sk[j-1]; sk[j-1] = y }
    for (i = 2; i <= no; i++) for (j = i; j > 1 && ok[j] > ok[j-1]; j--) { x = o[j]; o[j] = o[j-1]; o[j-1] = x; y = ok[j]; ok[j] = ok[j-1]; ok[j-1] = y }
    m = 0
    for (i = 1; i <= ns; i++) list[++m] = s[i]
    for (i = 1; i <= no; i++) list[++m] = o[i]
    for (i = 1; i <= m; i++) {
        t = list[i]
        for (e = 1; e <= ne; e++) { v = val[t, ev[e]]; if (v == "") v = -1; tv[ev[e]] = v; if (v > 0) tot[ev[e]] += v }
        vol = (t in va && t in vb) ? va[t] - vb[t] : -1
        inv = (t in na && t in nb) ? na[t] - nb[t] : -1
        if (vol > 0) tot["vol"] += vol
        if (inv > 0) tot["inv"] += inv
        cpu = tv["task-clock"] < 0 ? -1 : tv["task-clock"] / (secs * 10)
        isshard = tname[t] ~ /^shard-[0-9]+$/
        if (!isshard && cpu < 0.05 && tv["context-switches"] <= 0) { idle++; continue }
        shown++
        line = sprintf("%-16s %8s %6s %8s %7s %7s %6s %7s", tname[t], t, (cpu < 0 ? "-" : sprintf("%.1f", cpu)),
            human(tv["context-switches"]), human(vol), human(inv), fmt(tv["cpu-migrations"]), human(tv["page-faults"]))
        ipc = (tv["cycles"] > 0 && tv["instructions"] >= 0) ? tv["instructions"] / tv["cycles"] : -1
        if (hw > 0) line = line sprintf(" %8s %8s %5s %9s %8s", human(tv["cycles"]), human(tv["instructions"]),
            (ipc < 0 ? "-" : sprintf("%.2f", ipc)), pct(tv["cache-misses"], tv["cache-references"]), pct(tv["branch-misses"], tv["branches"]))
        print line
        # findings, printed after the table
        if (isshard) {
            if (tv["cpu-migrations"] > 0) F[++nf] = sprintf("WARN %s migrated %d times: shard threads must stay on their core; pinning is broken or was changed (pin.sh shows affinity)", tname[t], tv["cpu-migrations"])
            if (inv > 0 && inv / secs > 10) F[++nf] = sprintf("WARN %s was preempted %.0f times/s (involuntary): another thread or IRQ work shares its core (pin.sh, os-tune.sh IRQ section)", tname[t], inv / secs)
            if (cpu >= 95) F[++nf] = sprintf("NOTE %s is saturated (%.0f%% of a core): CPU-bound; flamegraph.sh shows where the time goes", tname[t], cpu)
            else if (cpu >= 0 && vol > 0 && vol / secs > 1000 && cpu > 50) F[++nf] = sprintf("NOTE %s blocks or parks %.0f times/s while %.0f%% busy: the executor sleeps often; check for blocking calls or tiny batches", tname[t], vol / secs, cpu)
            if (ipc >= 0 && ipc < 1.0) F[++nf] = sprintf("NOTE %s IPC %.2f < 1: stalled on memory (cache misses) or syscalls; see README", tname[t], ipc)
            if (tv["page-faults"] > 0 && tv["page-faults"] / secs > 100) F[++nf] = sprintf("NOTE %s takes %.0f page faults/s in steady state: allocation or mmap churn on the hot path", tname[t], tv["page-faults"] / secs)
        }
    }
    cpu = tot["task-clock"] / (secs * 10)
    line = sprintf("%-16s %8s %6.1f %8s %7s %7s %6s %7s", "TOTAL", "", cpu, human(tot["context-switches"]),
        human(tot["vol"]), human(tot["inv"]), fmt(tot["cpu-migrations"] + 0), human(tot["page-faults"] + 0))
    if (hw > 0) line = line sprintf(" %8s %8s %5s %9s %8s", human(tot["cycles"] + 0), human(tot["instructions"] + 0),
        (tot["cycles"] > 0 ? sprintf("%.2f", tot["instructions"] / tot["cycles"]) : "-"),
        pct(tot["cache-misses"] + 0, tot["cache-references"]), pct(tot["branch-misses"] + 0, tot["branches"]))
    print line
    if (idle > 0) printf("(%d idle threads not shown: under 0.05%% CPU and no context switches)\n", idle)
    if (ns == 0) F[++nf] = "NOTE no thread named shard-N: not a mixnode runtime, or its threads are not named yet"
    print ""
    if (nf == 0) print "findings: nothing unusual on the shard threads"
    else { print "findings:"; for (i = 1; i <= nf; i++) print "  " F[i] }
}' "$tmp/perf.csv"

echo
echo "CPU% is of one core over ${seconds}s; VOL/INVOL come from /proc (voluntary = blocked/parked, involuntary = preempted)."
echo "How to read this and what to do: perf-scripts/README.md, section \"perf-stat.sh\"."
