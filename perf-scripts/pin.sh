#!/usr/bin/env bash
# Thread placement of a running mixnode: affinity per thread, shard/IRQ overlap, re-pinning. See --help.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: pin.sh (--pid PID | --id ID [--home DIR]) [--cpus LIST] [--sample SECONDS]
       pin.sh --isolate-hint [--pid PID | --id ID [--home DIR] | --shard-cpus LIST]

Shows every thread of a running mixnode (name from /proc/PID/task/*/comm), its CPU affinity
(`taskset -pc TID`), the CPU it last ran on, its scheduling policy and context switches, then
checks the placement:
  - each shard-N thread is pinned to exactly one core (the node pins them; if not: WARN)
  - no two shard threads share a core (WARN)
  - non-shard threads of the node that may run on shard cores (NOTE; fix with --cpus)
  - IRQ-heavy work on shard cores: device interrupts and NET_RX/NET_TX softirqs counted over
    --sample seconds from /proc/interrupts and /proc/softirqs (WARN above 1000/s)

Options:
  --pid PID          the node's process id
  --id ID            the node id: reads the pid from HOME/mixnodes/ID/mixnode.pid
  --home DIR         node home (default: $MIXNET_HOME, else ~/.mixnet)
  --cpus LIST        CHANGES affinity: pins every NON-shard thread of the node to LIST
                     (e.g. 0 or 0,2-3) with taskset. Shard threads are left as they are (the
                     node pins them itself). Threads spawned later inherit from their parent.
  --sample SECONDS   window for the interrupt rates (default 1)
  --isolate-hint     print the kernel command line (isolcpus=, nohz_full=, rcu_nocbs=,
                     irqaffinity=) that reserves the shard cores for the shards, and how to set
                     it. Shard cores come from the running node, else --shard-cpus, else
                     "every CPU but CPU 0". Changes nothing.
  --shard-cpus LIST  shard cores for --isolate-hint when no node is given
  -h, --help         this help

Examples:
  perf-scripts/pin.sh --id mix1                  # show and check
  perf-scripts/pin.sh --pid "$(pgrep -n -x mixnode)" --cpus 0   # node's other threads -> CPU 0
  perf-scripts/pin.sh --isolate-hint --shard-cpus 2-7

What the warnings mean: perf-scripts/README.md, section "pin.sh".
EOF
}

pid="" id="" home="" cpus="" sample=1 isolate_hint=0 shard_cpus_arg=""
while [[ $# -gt 0 ]]; do
    case "$1" in
    --pid) need_arg "$@"; pid="$2"; shift 2 ;;
    --id) need_arg "$@"; id="$2"; shift 2 ;;
    --home) need_arg "$@"; home="$2"; shift 2 ;;
    --cpus) need_arg "$@"; cpus="$2"; shift 2 ;;
    --sample) need_arg "$@"; sample="$2"; shift 2 ;;
    --isolate-hint) isolate_hint=1; shift ;;
    --shard-cpus) need_arg "$@"; shard_cpus_arg="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
if ! is_uint "$sample" || ((sample == 0)); then die "--sample needs a positive whole number"; fi
command -v taskset >/dev/null 2>&1 || die "taskset not found (Debian: apt-get install -y util-linux)"

online="$(online_cpus)"
in_list() { [[ " $2 " == *" $1 "* ]]; }

# shard_cores PID: the union of the shard threads' allowed CPUs, expanded.
shard_cores() {
    local tid name aff all=""
    while IFS=$'\t' read -r tid name; do
        is_shard_name "$name" || continue
        aff="$(thread_affinity "$tid")" || continue
        all="$all $(cpu_list_expand "$aff")"
    done < <(threads "$1")
    # shellcheck disable=SC2086 # split the CPU numbers
    printf '%s\n' $all | sort -n -u | tr '\n' ' ' | sed 's/ $//'
}

isolate_hint() {
    local shards="$1" source="$2" house="" c
    for c in $online; do in_list "$c" "$shards" || house="$house $c"; done
    house="${house# }"
    echo "== isolate hint (shard cores from $source)"
    echo "shard cores:        $(cpu_list_compress "$shards")"
    if [[ -z "$house" ]]; then
        echo "WARN every online CPU is a shard core: nothing would be left for the kernel, IRQs and the"
        echo "     node's other threads. Run fewer shards (--shards N or --cpus LIST) and keep at least one"
        echo "     housekeeping core; on small machines (2-4 cores) isolation usually costs more than it saves."
        return 0
    fi
    local s h
    s="$(cpu_list_compress "$shards")"
    h="$(cpu_list_compress "$house")"
    echo "housekeeping cores: $h (kernel, IRQs, the node's non-shard threads, everything else)"
    if in_list 0 "$shards"; then
        echo "NOTE CPU 0 is a shard core: the kernel keeps boot-CPU and timekeeping work there and some"
        echo "     kernels refuse nohz_full on it; prefer shards on the highest CPUs (mixnode run --cpus)."
    fi
    echo
    echo "current kernel command line: $(cat /proc/cmdline 2>/dev/null || echo '?')"
    local iso nohz_now
    iso="$(cat /sys/devices/system/cpu/isolated 2>/dev/null || true)"
    nohz_now="$(cat /sys/devices/system/cpu/nohz_full 2>/dev/null || echo '(not built in)')"
    echo "currently isolated: ${iso:-(none)}   nohz_full: ${nohz_now:-(none)}"
    echo
    echo "add to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, then 'update-grub' and reboot:"
    echo
    echo "    isolcpus=managed_irq,domain,$s nohz_full=$s rcu_nocbs=$s irqaffinity=$h"
    echo
    echo "  isolcpus=managed_irq,domain,$s  no scheduler load balancing onto the shard cores, and"
    echo "                                  managed device IRQs kept off them where possible"
    echo "  nohz_full=$s                    no periodic timer tick while one task runs there"
    local kconfig nohz
    kconfig="/boot/config-$(uname -r)"
    nohz="unknown (no $kconfig)"
    if [[ -r "$kconfig" ]]; then
        nohz="$(grep -E '^CONFIG_NO_HZ_FULL=' "$kconfig" || echo 'CONFIG_NO_HZ_FULL not set: drop nohz_full')"
    fi
    echo "                                  (needs CONFIG_NO_HZ_FULL=y; this kernel: $nohz)"
    echo "  rcu_nocbs=$s                    RCU callbacks run on the housekeeping cores"
    echo "  irqaffinity=$h                  default affinity of unmanaged IRQs"
    echo
    echo "then start the node with its shards on exactly those cores: mixnode run --id ID --cpus $s"
    echo "and move its other threads off them: perf-scripts/pin.sh --id ID --cpus $h"
    echo "verify after reboot: cat /sys/devices/system/cpu/isolated; perf-scripts/pin.sh --id ID"
    echo "caveat: isolated cores get only threads pinned there explicitly; anything else pinned there"
    echo "        (by hand or by a careless --cpus) is never moved away by the scheduler."
    if command -v irqbalance >/dev/null 2>&1 || pgrep -x irqbalance >/dev/null 2>&1; then
        echo "note: irqbalance is installed; it honours isolcpus, or set IRQBALANCE_BANNED_CPULIST=$s"
        echo "      in /etc/default/irqbalance"
    fi
}

if ((isolate_hint)) && [[ -z "$pid" && -z "$id" ]]; then
    [[ -z "$cpus" ]] || die "--cpus needs --pid or --id"
    if [[ -n "$shard_cpus_arg" ]]; then
        shards="$(cpu_list_expand "$shard_cpus_arg")"
        for c in $shards; do in_list "$c" "$online" || die "--shard-cpus: CPU $c is not online (online: $(cpu_list_compress "$online"))"; done
        isolate_hint "$shards" "--shard-cpus"
    else
        shards=""
        for c in $online; do [[ "$c" == 0 ]] || shards="$shards $c"; done
        shards="${shards# }"
        [[ -n "$shards" ]] || die "only CPU 0 is online: nothing to isolate"
        isolate_hint "$shards" "default: every CPU but CPU 0"
    fi
    exit 0
fi

pid="$(resolve_pid "$pid" "$id" "$home")"
if [[ -n "$cpus" ]]; then
    want="$(cpu_list_expand "$cpus")"
    for c in $want; do in_list "$c" "$online" || die "--cpus: CPU $c is not online (online: $(cpu_list_compress "$online"))"; done
fi

show_threads() {
    local tid name aff last cs policy
    printf '%-8s %-16s %-10s %-5s %-12s %10s %10s\n' TID THREAD AFFINITY LAST POLICY VOL-CS INVOL-CS
    while IFS=$'\t' read -r tid name; do
        aff="$(thread_affinity "$tid")" || continue
        last="$(thread_last_cpu "$pid" "$tid" || echo '?')"
        cs="$(ctx_switches "$pid" "$tid" || echo '? ?')"
        policy="$(chrt -p "$tid" 2>/dev/null | awk -F': ' '/policy/ { sub(/^SCHED_/, "", $2); print $2; exit }')"
        # shellcheck disable=SC2086 # split "vol invol"
        printf '%-8s %-16s %-10s %-5s %-12s %10s %10s\n' "$tid" "$name" "$aff" "$last" "${policy:-?}" $cs
    done < <(threads "$pid")
}

exe="$(readlink "/proc/$pid/exe" 2>/dev/null || echo '?')"
echo "== threads of pid $pid ($exe); online CPUs: $(cpu_list_compress "$online")"
show_threads

# Placement checks.
findings=()
declare -A shards_on=()
shard_count=0
while IFS=$'\t' read -r tid name; do
    is_shard_name "$name" || continue
    shard_count=$((shard_count + 1))
    aff="$(thread_affinity "$tid")" || continue
    # shellcheck disable=SC2046 # one word per CPU
    set -- $(cpu_list_expand "$aff")
    if (($# != 1)); then
        findings+=("WARN $name (tid $tid) is not pinned: allowed on CPUs $aff. Shard threads must own one core; the node should pin them (check --shards/--cpus, and that nothing reset the affinity)")
    else
        shards_on[$1]="${shards_on[$1]:-}${shards_on[$1]:+ }$name"
    fi
done < <(threads "$pid")
for c in "${!shards_on[@]}"; do
    # shellcheck disable=SC2086 # count the names
    set -- ${shards_on[$c]}
    if (($# > 1)); then
        findings+=("WARN shard threads share CPU $c: ${shards_on[$c]}. They take turns on one core: run no more shards than cores (--shards N / --cpus LIST)")
    fi
done
if ((shard_count == 0)); then
    findings+=("NOTE no thread named shard-N: not a mixnode runtime, or the shards have not started")
fi

shard_cpus="$(shard_cores "$pid")"
house=""
for c in $online; do in_list "$c" "$shard_cpus" || house="$house $c"; done
house="${house# }"

if [[ -n "$shard_cpus" ]]; then
    crowd=()
    while IFS=$'\t' read -r tid name; do
        is_shard_name "$name" && continue
        aff="$(thread_affinity "$tid")" || continue
        for c in $(cpu_list_expand "$aff"); do
            if in_list "$c" "$shard_cpus"; then crowd+=("$name/$tid"); break; fi
        done
    done < <(threads "$pid")
    if ((${#crowd[@]} > 0)); then
        if [[ -n "$house" ]]; then
            findings+=("NOTE ${#crowd[@]} non-shard thread(s) may run on shard cores $(cpu_list_compress "$shard_cpus"): ${crowd[*]}. When they wake they preempt a shard; move them: pin.sh --pid $pid --cpus $(cpu_list_compress "$house")")
        else
            findings+=("NOTE ${#crowd[@]} non-shard thread(s) share the shard cores, and every CPU is a shard core: nowhere to move them. Fine if they are mostly idle (see VOL/INVOL)")
        fi
    fi
fi

# IRQ and softirq rates per CPU over the sample window.
irq_snapshot() {
    awk 'NR == 1 { ncpu = NF; next }
         $1 ~ /^[0-9]+:$/ {
             irq = $1; sub(/:$/, "", irq)
             name = ""; for (i = ncpu + 2; i <= NF; i++) name = name (name == "" ? "" : " ") $i
             for (i = 0; i < ncpu; i++) printf "%s\t%d\t%s\t%s\n", irq, i, $(i + 2), name
         }' /proc/interrupts 2>/dev/null || true
}
softirq_snapshot() {
    awk 'NR == 1 { ncpu = NF; next }
         $1 == "NET_RX:" || $1 == "NET_TX:" { for (i = 0; i < ncpu; i++) printf "%s\t%d\t%s\n", $1, i, $(i + 2) }' \
        /proc/softirqs 2>/dev/null || true
}
tmp="$(mktemp -d "${TMPDIR:-/tmp}/pin.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
irq_snapshot >"$tmp/irq.0"
softirq_snapshot >"$tmp/soft.0"
sleep "$sample"
irq_snapshot >"$tmp/irq.1"
softirq_snapshot >"$tmp/soft.1"

echo
echo "== interrupts per second on each CPU over ${sample}s (device IRQs from /proc/interrupts, NET softirqs)"
awk -F'\t' -v secs="$sample" -v shards=" $shard_cpus " -v online=" $online " '
    FILENAME == ARGV[1] { a[$1 "\t" $2] = $3; next }
    FILENAME == ARGV[2] { d = ($3 - a[$1 "\t" $2]) / secs; if (d <= 0) next
        cpu[$2] += d; if (d > top[$2]) { top[$2] = d; topn[$2] = sprintf("IRQ %s %s %.0f/s", $1, $4, d) }; next }
    FILENAME == ARGV[3] { b[$1 "\t" $2] = $3; next }
    { d = ($3 - b[$1 "\t" $2]) / secs; soft[$2] = soft[$2] sprintf(", %s %.0f/s", substr($1, 1, length($1) - 1), d) }
    END { n = split(online, c, " ")
          for (i = 1; i <= n; i++) { k = c[i]
              printf "  CPU %s%s: %.0f device IRQs/s%s%s\n", k, (index(shards, " " k " ") ? " (shard core)" : ""),
                  cpu[k], (k in topn ? " (busiest: " topn[k] ")" : ""), soft[k] } }' \
    "$tmp/irq.0" "$tmp/irq.1" "$tmp/soft.0" "$tmp/soft.1"

if [[ -n "$shard_cpus" ]]; then
    while IFS= read -r f; do
        [[ -n "$f" ]] && findings+=("$f")
    done < <(
        awk -F'\t' -v secs="$sample" -v shards=" $shard_cpus " '
            FNR == NR { a[$1 "\t" $2] = $3; next }
            index(shards, " " $2 " ") { d = ($3 - a[$1 "\t" $2]) / secs; if (d > 0) { r[$2] += d; if (d > t[$2]) { t[$2] = d; tn[$2] = "IRQ " $1 " (" $4 ")" } } }
            END { for (c in r) if (r[c] >= 1000) printf "WARN shard core %s handles %.0f device IRQs/s (busiest %s): steer them to housekeeping cores (os-tune.sh --apply --irq-cpus LIST, or irqbalance with banned CPUs)\n", c, r[c], tn[c] }' \
            "$tmp/irq.0" "$tmp/irq.1"
        awk -F'\t' -v secs="$sample" -v shards=" $shard_cpus " '
            FNR == NR { a[$1 "\t" $2] = $3; next }
            index(shards, " " $2 " ") { d = ($3 - a[$1 "\t" $2]) / secs; if (d >= 1000) printf "WARN shard core %s runs %.0f %s softirqs/s: network stack work competes with the shard (IRQ affinity, RPS/XPS masks; on loopback the sender pays this)\n", $2, d, substr($1, 1, length($1) - 1) }' \
            "$tmp/soft.0" "$tmp/soft.1"
    )
fi

echo
if ((${#findings[@]} == 0)); then
    echo "findings: placement looks right"
else
    echo "findings:"
    printf '  %s\n' "${findings[@]}"
fi

# Re-pin the non-shard threads.
if [[ -n "$cpus" ]]; then
    overlap=""
    for c in $want; do in_list "$c" "$shard_cpus" && overlap="$overlap $c"; done
    if [[ -n "$overlap" ]]; then
        warn "--cpus $cpus includes shard core(s)${overlap}: those threads will still compete with shards"
    fi
    echo
    echo "== pinning non-shard threads of pid $pid to CPUs $cpus (shard threads unchanged)"
    moved=0
    while IFS=$'\t' read -r tid name; do
        if is_shard_name "$name"; then
            echo "  keep  $name/$tid on $(thread_affinity "$tid" || echo '?')"
            continue
        fi
        if taskset -pc "$cpus" "$tid" >/dev/null 2>&1; then
            echo "  moved $name/$tid -> $(thread_affinity "$tid" || echo '?')"
            moved=$((moved + 1))
        else
            echo "  FAIL  $name/$tid (exited, or not permitted)"
        fi
    done < <(threads "$pid")
    echo "moved $moved thread(s). This lasts until the node restarts; new threads inherit their parent's affinity."
fi
echo
echo "What the warnings mean: perf-scripts/README.md, section \"pin.sh\"."
if ((isolate_hint)); then
    echo
    if [[ -n "$shard_cpus_arg" ]]; then
        isolate_hint "$(cpu_list_expand "$shard_cpus_arg")" "--shard-cpus"
    elif [[ -n "$shard_cpus" ]]; then
        isolate_hint "$shard_cpus" "the running node's shard threads"
    else
        die "--isolate-hint: the node has no shard threads; give --shard-cpus LIST"
    fi
fi
