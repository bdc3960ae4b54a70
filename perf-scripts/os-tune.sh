#!/usr/bin/env bash
# Host settings that matter for a busy mixnode: check (default) or apply. See --help.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: os-tune.sh [--check | --apply] [--shard-cpus LIST] [--irq-cpus LIST]

Checks the host settings that matter for a busy mixnode and prints, for each, the current
value, the recommended value and OK / WARN (SKIP when the setting does not exist here):
  sysctl  net.core.rmem_max, net.core.wmem_max, net.ipv4.tcp_rmem, net.ipv4.tcp_wmem,
          net.core.somaxconn, net.ipv4.tcp_max_syn_backlog, net.core.netdev_max_backlog,
          net.core.busy_poll, net.core.busy_read, fs.file-max, vm.swappiness,
          kernel.io_uring_disabled
  limits  open files (ulimit -n) and locked memory (ulimit -l, io_uring: glommio needs it),
          of this shell and of a running mixnode (/proc/PID/limits)
  kernel  version (glommio needs io_uring from 5.8 on), CPU frequency governor,
          transparent hugepages
  IRQs    the NIC's interrupts from /proc/interrupts with their smp_affinity_list, and
          whether they land on shard cores (shard cores: --shard-cpus, else read from a
          running mixnode's shard-N threads); irqbalance
--check (the default) only reads: safe on any machine.

Options:
  --check            report only (default)
  --apply            as root: set every WARN sysctl with `sysctl -w`, the CPU governor to
                     performance and transparent hugepages to madvise; prints the
                     /etc/sysctl.d/ file that makes the sysctls survive a reboot. Limits
                     (ulimit) cannot be changed for another process: it prints how to set them.
  --irq-cpus LIST    with --apply: write LIST to /proc/irq/N/smp_affinity_list of every NIC
                     IRQ (e.g. the housekeeping cores). Without --apply: shows what would change.
  --shard-cpus LIST  the shard cores, to check IRQ placement against
  -h, --help         this help

Examples:
  perf-scripts/os-tune.sh                       # same as --check
  perf-scripts/os-tune.sh --shard-cpus 2-7
  sudo perf-scripts/os-tune.sh --apply --irq-cpus 0-1

What each setting does and when it matters: perf-scripts/README.md, section "os-tune.sh".
EOF
}

mode=check irq_cpus="" shard_cpus_arg=""
while [[ $# -gt 0 ]]; do
    case "$1" in
    --check) mode=check; shift ;;
    --apply) mode=apply; shift ;;
    --irq-cpus) need_arg "$@"; irq_cpus="$2"; shift 2 ;;
    --shard-cpus) need_arg "$@"; shard_cpus_arg="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
if [[ "$mode" == apply && "$(id -u)" -ne 0 ]]; then
    die "--apply changes kernel settings: run it as root (--check needs no privileges)"
fi
online="$(online_cpus)"
in_list() { [[ " $2 " == *" $1 "* ]]; }
[[ -z "$irq_cpus" ]] || irq_want="$(cpu_list_expand "$irq_cpus")"
[[ -z "$shard_cpus_arg" ]] || shard_cpus="$(cpu_list_expand "$shard_cpus_arg")"

n_ok=0 n_warn=0 n_skip=0 n_set=0 n_fail=0
persist=()

# row STATUS NAME CURRENT RECOMMENDED [NOTE]
row() {
    case "$1" in
    OK) n_ok=$((n_ok + 1)) ;;
    WARN) n_warn=$((n_warn + 1)) ;;
    SKIP) n_skip=$((n_skip + 1)) ;;
    SET) n_set=$((n_set + 1)) ;;
    FAIL) n_fail=$((n_fail + 1)) ;;
    esac
    printf '%-4s  %-30s %-26s %s\n' "$1" "$2" "$3" "$4"
    if [[ -n "${5:-}" && "$1" != OK ]]; then printf '      %s\n' "$5"; fi
}

# Numbers can be as large as 2^63-1 (fs.file-max): compare in awk.
num_ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }
num_le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }

sysctl_path() { printf '/proc/sys/%s\n' "${1//.//}"; }
sysctl_read() {
    local p
    p="$(sysctl_path "$1")"
    [[ -r "$p" ]] || return 1
    tr -s '[:space:]' ' ' <"$p" | sed 's/^ //; s/ $//'
}

# sysctl_set KEY VALUE NOTE CURRENT SHOWN: apply (in --apply mode) and report; SHOWN is the
# recommendation as printed (">= N").
sysctl_set() {
    local key="$1" value="$2" note="$3" cur="$4" shown="${5:-$2}"
    persist+=("$key = $value")
    if [[ "$mode" != apply ]]; then
        row WARN "$key" "$cur" "$shown" "$note"
        return 0
    fi
    if sysctl -q -w "$key=$value" >/dev/null 2>&1; then
        row SET "$key" "$cur" "$(sysctl_read "$key" || echo "$value")"
    else
        row FAIL "$key" "$cur" "$value" "sysctl -w refused (read-only here: container or network namespace?)"
    fi
}

# check_min KEY MIN NOTE: a floor. check_max KEY MAX NOTE: a ceiling.
check_min() {
    local key="$1" want="$2" note="$3" cur
    if ! cur="$(sysctl_read "$key")"; then
        row SKIP "$key" "(absent)" ">= $want"
        return 0
    fi
    if num_ge "$cur" "$want"; then row OK "$key" "$cur" ">= $want"; else sysctl_set "$key" "$want" "$note" "$cur" ">= $want"; fi
}
check_max() {
    local key="$1" want="$2" note="$3" cur
    if ! cur="$(sysctl_read "$key")"; then
        row SKIP "$key" "(absent)" "<= $want"
        return 0
    fi
    if num_le "$cur" "$want"; then row OK "$key" "$cur" "<= $want"; else sysctl_set "$key" "$want" "$note" "$cur" "<= $want"; fi
}
# check_triple KEY "MIN DEFAULT MAX" NOTE: each field at least the recommended one; applying
# keeps any field that is already larger.
check_triple() {
    local key="$1" want="$2" note="$3" cur target
    if ! cur="$(sysctl_read "$key")"; then
        row SKIP "$key" "(absent)" "$want"
        return 0
    fi
    target="$(awk -v c="$cur" -v w="$want" 'BEGIN { split(c, a, " "); split(w, b, " ")
        for (i = 1; i <= 3; i++) printf "%s%s", (i > 1 ? " " : ""), (a[i] + 0 > b[i] + 0 ? a[i] : b[i]) }')"
    if [[ "$target" == "$cur" ]]; then row OK "$key" "$cur" ">= $want"; else sysctl_set "$key" "$target" "$note" "$cur" ">= $want"; fi
}

# A running node, to read its limits and shard cores from.
node_pid="$(pgrep -n -x mixnode 2>/dev/null || true)"
if [[ -z "${shard_cpus:-}" && -n "$node_pid" ]]; then
    shard_cpus=""
    while IFS=$'\t' read -r tid name; do
        is_shard_name "$name" || continue
        aff="$(thread_affinity "$tid" 2>/dev/null)" || continue
        shard_cpus="$shard_cpus $(cpu_list_expand "$aff")"
    done < <(threads "$node_pid" 2>/dev/null || true)
    # shellcheck disable=SC2086 # one word per CPU
    shard_cpus="$(printf '%s\n' $shard_cpus | sort -n -u | tr '\n' ' ' | sed 's/ $//')"
    [[ -z "$shard_cpus" ]] || shard_src="running mixnode pid $node_pid"
fi
[[ -z "$shard_cpus_arg" ]] || shard_src="--shard-cpus"
shard_cpus="${shard_cpus:-}"

echo "== os-tune ($mode) on $(uname -n), kernel $(uname -r), $(nproc) CPUs (online $(cpu_list_compress "$online"))"
if [[ -n "$shard_cpus" ]]; then
    echo "== shard cores: $(cpu_list_compress "$shard_cpus") (from ${shard_src:-?})"
else
    echo "== shard cores: unknown (no running mixnode with shard threads; pass --shard-cpus LIST)"
fi
printf '%-4s  %-30s %-26s %s\n' STAT SETTING CURRENT RECOMMENDED

echo "-- network (sysctl)"
check_min net.core.rmem_max 16777216 "max socket receive buffer: bursts from many peers overflow small buffers (drops, TCP window stalls)"
check_min net.core.wmem_max 16777216 "max socket send buffer: a slow next hop fills small buffers and back-pressures the shard"
check_triple net.ipv4.tcp_rmem "4096 131072 16777216" "TCP receive autotuning min/default/max: the max caps throughput per peer connection"
check_triple net.ipv4.tcp_wmem "4096 65536 16777216" "TCP send autotuning min/default/max"
check_min net.core.somaxconn 4096 "accept queue cap: too low -> SYNs dropped when many peers/clients connect at once"
check_min net.ipv4.tcp_max_syn_backlog 8192 "half-open connection queue: too low -> SYN drops under connection storms"
check_min net.core.netdev_max_backlog 16384 "per-CPU input queue before the stack: too low -> drops counted in /proc/net/softnet_stat column 2"
check_min net.core.busy_poll 50 "optional: busy-poll the NIC queue for up to N us on poll/select (lower latency, burns CPU; skip on shared/small VMs)"
check_min net.core.busy_read 50 "optional: busy-poll on blocking reads for up to N us (same trade-off)"

echo "-- files, memory, io_uring"
check_min fs.file-max 1048576 "system-wide open files: each peer connection is a file descriptor"
check_max vm.swappiness 10 "keep the node's memory (packet buffers, replay filter) out of swap"
if cur="$(sysctl_read kernel.io_uring_disabled)"; then
    if [[ "$cur" == 0 ]]; then
        row OK kernel.io_uring_disabled "$cur" "0"
    else
        row WARN kernel.io_uring_disabled "$cur" "0" \
            "io_uring is restricted (1: only root/kernel.io_uring_group, 2: off): glommio cannot start. Not changed by --apply (a security choice): sysctl -w kernel.io_uring_disabled=0, or set kernel.io_uring_group to the node's group"
    fi
else
    row OK kernel.io_uring_disabled "(absent: enabled)" "0"
fi
kver="$(uname -r)"
kmaj="${kver%%.*}" kmin="${kver#*.}"
kmin="${kmin%%[!0-9]*}"
if is_uint "$kmaj" && is_uint "$kmin" && ((kmaj > 5 || (kmaj == 5 && kmin >= 8))); then
    row OK "kernel version" "$kmaj.$kmin" ">= 5.8 (io_uring)"
else
    row WARN "kernel version" "$kver" ">= 5.8 (io_uring)" "glommio needs io_uring features from 5.8 on; newer kernels (6.x) are faster for networking on io_uring"
fi

echo "-- limits (apply: systemd LimitNOFILE=/LimitMEMLOCK=, or /etc/security/limits.d/)"
limit_nofile_want=65536
limit_memlock_want_kib=65536 # 64 MiB; glommio's own minimum is 512 KiB per executor
check_limit_nofile() { # WHO SOFT
    if [[ "$2" == unlimited ]] || num_ge "$2" "$limit_nofile_want"; then
        row OK "open files ($1)" "$2" ">= $limit_nofile_want"
    else
        row WARN "open files ($1)" "$2" ">= $limit_nofile_want" \
            "each peer connection and socket is a file descriptor; at the limit accept() fails with EMFILE. Raise with LimitNOFILE=1048576 (systemd) or 'ulimit -n 1048576' before starting; live: prlimit --pid PID --nofile=1048576"
    fi
}
check_limit_memlock() { # WHO SOFT_KIB [ROOT]
    local note="io_uring rings and registered buffers are locked memory: glommio needs >= 512 KiB per executor and more for its buffers, else it fails to start (ENOMEM). Set LimitMEMLOCK=infinity (systemd) or 'memlock unlimited' in /etc/security/limits.d/; root (CAP_IPC_LOCK) is exempt"
    if [[ "$2" == unlimited ]] || num_ge "$2" "$limit_memlock_want_kib"; then
        row OK "locked memory KiB ($1)" "$2" "unlimited or >= $limit_memlock_want_kib"
    elif [[ "${3:-}" == root ]]; then
        row OK "locked memory KiB ($1)" "$2 (root: exempt)" "unlimited or >= $limit_memlock_want_kib"
        echo "      root (CAP_IPC_LOCK) is not held to it; a node running as another user needs LimitMEMLOCK=infinity"
    elif num_ge "$2" 512; then
        row WARN "locked memory KiB ($1)" "$2" "unlimited or >= $limit_memlock_want_kib" "$note"
    else
        row WARN "locked memory KiB ($1)" "$2" "unlimited or >= $limit_memlock_want_kib" "below glommio's 512 KiB minimum: the node will not start unless it runs as root. $note"
    fi
}
check_limit_nofile "this shell" "$(ulimit -S -n)"
check_limit_memlock "this shell" "$(ulimit -S -l)" "$([[ "$(id -u)" -eq 0 ]] && echo root)"
if cur="$(sysctl_read fs.nr_open)"; then
    if num_ge "$cur" 1048576; then row OK fs.nr_open "$cur" ">= 1048576"; else row WARN fs.nr_open "$cur" ">= 1048576" "hard ceiling for any process's open-files limit"; fi
fi
if [[ -n "$node_pid" && -r "/proc/$node_pid/limits" ]]; then
    nofile="$(awk '/^Max open files/ { print $4 }' "/proc/$node_pid/limits")"
    memlock="$(awk '/^Max locked memory/ { print ($5 == "unlimited" ? "unlimited" : int($5 / 1024)) }' "/proc/$node_pid/limits")"
    check_limit_nofile "mixnode $node_pid" "${nofile:-?}"
    node_root=""
    if awk '/^Uid:/ { exit !($3 == 0) }' "/proc/$node_pid/status" 2>/dev/null; then node_root=root; fi
    check_limit_memlock "mixnode $node_pid" "${memlock:-?}" "$node_root"
fi

echo "-- CPU and memory management"
govs=(/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor)
if [[ -e "${govs[0]}" ]]; then
    cur="$(cat "${govs[@]}" 2>/dev/null | sort | uniq -c | awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }')"
    if ! grep -qv '^performance$' < <(cat "${govs[@]}" 2>/dev/null); then
        row OK "cpufreq governor" "$cur" "performance"
    elif [[ "$mode" == apply ]]; then
        ok=1
        for g in "${govs[@]}"; do
            if grep -qw performance "${g%/*}/scaling_available_governors" 2>/dev/null; then
                echo performance >"$g" 2>/dev/null || ok=0
            else
                ok=0
            fi
        done
        if ((ok)); then
            row SET "cpufreq governor" "$cur" "performance" 
            echo "      persist: cpupower frequency-set -g performance in a boot unit (linux-cpupower), or GOVERNOR=performance in /etc/default/cpufrequtils"
        else
            row FAIL "cpufreq governor" "$cur" "performance" "some CPUs refused 'performance' (see scaling_available_governors)"
        fi
    else
        row WARN "cpufreq governor" "$cur" "performance" \
            "powersave/schedutil ramp the clock down between bursts: higher and noisier per-packet latency"
    fi
else
    row SKIP "cpufreq governor" "(no cpufreq)" "performance" "no /sys/devices/system/cpu/*/cpufreq: a VM, or the firmware manages the clock"
fi

thp_check() { # FILE NAME OKLIST NOTE
    local file="$1" name="$2" oklist="$3" note="$4" cur
    if [[ ! -r "$file" ]]; then
        row SKIP "$name" "(absent)" "madvise"
        return 0
    fi
    cur="$(sed -n 's/.*\[\(.*\)\].*/\1/p' "$file")"
    if in_list "$cur" "$oklist"; then
        row OK "$name" "$cur" "madvise (or never)"
    elif [[ "$mode" == apply ]]; then
        if echo madvise >"$file" 2>/dev/null; then
            row SET "$name" "$cur" "madvise"
            echo "      persist: transparent_hugepage=madvise on the kernel command line, or a tmpfiles.d rule"
        else
            row FAIL "$name" "$cur" "madvise" "could not write $file"
        fi
    else
        row WARN "$name" "$cur" "madvise (or never)" "$note"
    fi
}
thp_check /sys/kernel/mm/transparent_hugepage/enabled "transparent hugepages" "madvise never" \
    "'always' lets khugepaged compact and collapse pages behind the node's back: latency spikes"
thp_check /sys/kernel/mm/transparent_hugepage/defrag "THP defrag" "madvise defer defer+madvise never" \
    "'always' makes page faults stall on direct compaction"

echo "-- NIC interrupts (IRQ number, name, count, smp_affinity_list / effective)"
nic_patterns=()
for dev in /sys/class/net/*; do
    [[ -e "$dev/device" ]] || continue # lo, bridges, veth, ifb: no device
    iface="${dev##*/}"
    nic_patterns+=("$iface")
    d="$(readlink -f "$dev/device" 2>/dev/null || true)"
    [[ -n "$d" ]] || continue
    nic_patterns+=("${d##*/}") # virtio2, or the PCI address
    parent="$(basename "$(dirname "$d")")"
    [[ "$parent" =~ ^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-9a-f]$ ]] && nic_patterns+=("$parent")
done
irq_rows=()
if ((${#nic_patterns[@]} > 0)) && [[ -r /proc/interrupts ]]; then
    mapfile -t irq_rows < <(awk -v pats="${nic_patterns[*]}" '
        NR == 1 { ncpu = NF; next }
        $1 ~ /^[0-9]+:$/ {
            irq = $1; sub(/:$/, "", irq); total = 0
            for (i = 2; i <= ncpu + 1; i++) total += $i
            rest = ""; for (i = ncpu + 2; i <= NF; i++) rest = rest " " $i
            name = $NF
            n = split(pats, p, " ")
            for (j = 1; j <= n; j++) {
                pat = p[j]; gsub(/\./, "\\.", pat)
                if (rest ~ ("(^|[^0-9A-Za-z])" pat "([^0-9A-Za-z]|$)")) { printf "%s\t%s\t%.0f\n", irq, name, total; break }
            }
        }' /proc/interrupts)
fi
irq_conflict=0
if ((${#irq_rows[@]} == 0)); then
    row SKIP "NIC IRQs" "(none found)" "off the shard cores"
else
    echo "      NICs: ${nic_patterns[*]}"
    for r in "${irq_rows[@]}"; do
        IFS=$'\t' read -r irq name total <<<"$r"
        aff="$(cat "/proc/irq/$irq/smp_affinity_list" 2>/dev/null || echo '?')"
        eff="$(cat "/proc/irq/$irq/effective_affinity_list" 2>/dev/null || echo "$aff")"
        status=OK
        rec="off the shard cores"
        if [[ -n "$shard_cpus" && "$eff" != '?' && -n "$eff" ]]; then
            for c in $(cpu_list_expand "$eff"); do
                if in_list "$c" "$shard_cpus" && [[ "$total" != 0 ]]; then status=WARN; fi
            done
        elif [[ -z "$shard_cpus" ]]; then
            status=SKIP
            rec="(shard cores unknown)"
        fi
        if [[ -n "$irq_cpus" ]]; then
            rec="$irq_cpus (--irq-cpus)"
            if [[ "$mode" == apply ]]; then
                if echo "$irq_cpus" >"/proc/irq/$irq/smp_affinity_list" 2>/dev/null; then
                    status=SET
                else
                    status=FAIL
                fi
                aff="$aff -> $(cat "/proc/irq/$irq/smp_affinity_list" 2>/dev/null || echo '?')"
            fi
        fi
        if [[ "$status" == WARN ]]; then irq_conflict=1; fi
        row "$status" "IRQ $irq $name" "$total, cpus $aff / $eff" "$rec"
    done
    house=""
    for c in $online; do in_list "$c" "$shard_cpus" || house="$house $c"; done
    house="$(cpu_list_compress "${house# }")"
    if ((irq_conflict)); then
        if [[ -n "$house" ]]; then
            echo "      NIC interrupts land on shard cores: steer them away with: os-tune.sh --apply --irq-cpus $house"
        else
            echo "      NIC interrupts land on shard cores, and every CPU is a shard core: run fewer shards to leave one for IRQs"
        fi
    fi
    if [[ -n "$irq_cpus" && "$mode" != apply ]]; then
        echo "      --irq-cpus $irq_cpus is applied only with --apply"
    fi
    for c in ${irq_want:-}; do
        in_list "$c" "$online" || warn "--irq-cpus: CPU $c is not online"
        in_list "$c" "$shard_cpus" && warn "--irq-cpus $irq_cpus includes shard core $c"
    done
    echo "      (managed IRQs, e.g. some virtio/NVMe queues, refuse affinity changes: FAIL there is expected;"
    echo "       an affinity set here is lost at reboot or when irqbalance runs)"
fi
if pgrep -x irqbalance >/dev/null 2>&1; then
    row WARN irqbalance running "banned from shard cores" \
        "irqbalance rewrites IRQ affinity every 10 s: set IRQBALANCE_BANNED_CPULIST=<shard cores> in /etc/default/irqbalance and restart it, or stop it"
else
    row OK irqbalance "not running" "off, or shard cores banned"
fi

echo
echo "summary: $n_ok OK, $n_warn WARN, $n_skip SKIP$([[ "$mode" == apply ]] && echo ", $n_set SET, $n_fail FAIL")"
if ((${#persist[@]} > 0)); then
    echo
    if [[ "$mode" == apply ]]; then
        echo "sysctl -w lasts until reboot. To persist, as root:"
    else
        echo "to apply: os-tune.sh --apply (as root). To persist across reboots, as root:"
    fi
    echo "  cat > /etc/sysctl.d/90-mixnode.conf <<'EOF'"
    printf '  %s\n' "${persist[@]}"
    echo "  EOF"
    echo "  sysctl --system"
fi
echo "What each setting does: perf-scripts/README.md, section \"os-tune.sh\"."
