# shellcheck shell=bash
# Shared helpers for the perf-scripts. Sourced, never run: each script does
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Everything here only reads the system unless a function's comment says otherwise.

PERF_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROG="$(basename "${0:-perf-scripts}")"

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
warn() { printf '%s: WARNING: %s\n' "$PROG" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

is_uint() { [[ "${1:-}" =~ ^[0-9]+$ ]]; }

# need_arg OPTION VALUE: die unless an option that takes a value got one.
need_arg() {
    [[ $# -ge 2 && -n "$2" && "$2" != --* ]] || die "$1 needs a value (see --help)"
}

# The repository root: git's idea of it, else the parent of this folder.
repo_root() {
    local root
    if root="$(git -C "$PERF_SCRIPTS_DIR" rev-parse --show-toplevel 2>/dev/null)"; then
        printf '%s\n' "$root"
    else
        (cd "$PERF_SCRIPTS_DIR/.." && pwd)
    fi
}

# mixnet_home [DIR]: the node home, as the mixnode binary resolves it.
mixnet_home() {
    if [[ -n "${1:-}" ]]; then
        printf '%s\n' "$1"
    elif [[ -n "${MIXNET_HOME:-}" ]]; then
        printf '%s\n' "$MIXNET_HOME"
    else
        printf '%s\n' "${HOME:-/root}/.mixnet"
    fi
}

# resolve_pid PID ID HOME: prints the pid of the node, from --pid or from the node's pid file.
resolve_pid() {
    local pid="${1:-}" id="${2:-}" home pidfile
    if [[ -n "$pid" && -n "$id" ]]; then
        die "give either --pid or --id, not both"
    fi
    if [[ -z "$pid" ]]; then
        [[ -n "$id" ]] || die "give --pid PID or --id ID (see --help)"
        home="$(mixnet_home "${3:-}")"
        pidfile="$home/mixnodes/$id/mixnode.pid"
        [[ -r "$pidfile" ]] || die "no pid file $pidfile: is node '$id' running with this --home?"
        pid="$(tr -d '[:space:]' <"$pidfile")"
        is_uint "$pid" || die "pid file $pidfile does not hold a pid"
    fi
    is_uint "$pid" || die "--pid needs a number, got '$pid'"
    [[ -d "/proc/$pid" ]] || die "no process $pid (stale pid file, or the node stopped)"
    local comm
    comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
    if [[ "$comm" != "mixnode" ]]; then
        log "note: process $pid is '$comm', not 'mixnode'; going on anyway"
    fi
    printf '%s\n' "$pid"
}

# threads PID: "tid<TAB>name" for every thread of PID, sorted by tid.
threads() {
    local t tid name
    for t in /proc/"$1"/task/*; do
        [[ -d "$t" ]] || continue
        tid="${t##*/}"
        name="$(cat "$t/comm" 2>/dev/null)" || continue
        printf '%s\t%s\n' "$tid" "$name"
    done | sort -n
}

is_shard_name() { [[ "$1" =~ ^shard-[0-9]+$ ]]; }

# ensure_perf: perf on PATH, installing Debian's linux-perf when root and apt-get is there.
# (Changes the system only when perf is missing, and says so.)
ensure_perf() {
    if command -v perf >/dev/null 2>&1 && perf --version >/dev/null 2>&1; then
        return 0
    fi
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "perf not found: installing Debian's linux-perf (apt-get install -y linux-perf)"
        apt-get install -y linux-perf >&2 || {
            apt-get update >&2 && apt-get install -y linux-perf >&2
        } || die "could not install linux-perf; install perf and retry"
        command -v perf >/dev/null 2>&1 || die "linux-perf installed but perf is not on PATH"
    else
        die "perf not found: as root, 'apt-get install -y linux-perf' (Debian) or your distro's perf package"
    fi
    perf --version >/dev/null 2>&1 ||
        die "perf is installed but does not run (on Debian the kernel version may lack a perf_<version> binary)"
}

# perf_access_hint: one line about perf_event_paranoid when not root.
perf_access_hint() {
    local p
    p="$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo '?')"
    if [[ "$(id -u)" -ne 0 && "$p" != "?" && "$p" -gt 1 ]]; then
        warn "kernel.perf_event_paranoid=$p and you are not root: perf may not attach to the node;" \
            "run as root or as the node's user with 'sysctl kernel.perf_event_paranoid=1'"
    fi
}

# hw_event_supported EVENT: true if perf can count EVENT on this machine (VMs often cannot).
hw_event_supported() {
    local out
    out="$(perf stat -x, -e "$1" true 2>&1)" || return 1
    grep -q -e '<not supported>' -e '<not counted>' -e 'event syntax error' <<<"$out" && return 1
    grep -q ",$1" <<<"$out"
}

# bin_path NAME: the NAME binary, preferring target/bench (symbols, line tables) over target/release.
bin_path() {
    local root
    root="$(repo_root)"
    if [[ -x "$root/target/bench/$1" ]]; then
        printf '%s\n' "$root/target/bench/$1"
    elif [[ -x "$root/target/release/$1" ]]; then
        printf '%s\n' "$root/target/release/$1"
    else
        return 1
    fi
}

# symbol_hint PID: warn when the profiled binary has no symbols or no line tables.
symbol_hint() {
    local exe
    exe="$(readlink "/proc/$1/exe" 2>/dev/null || true)"
    [[ -n "$exe" && -r "$exe" ]] || return 0
    command -v readelf >/dev/null 2>&1 || return 0
    local sections
    sections="$(readelf -S -W "$exe" 2>/dev/null || true)"
    if ! grep -q '\.symtab' <<<"$sections"; then
        warn "$exe is stripped: frames will show as addresses. Profile a target/bench build:" \
            "cargo build --profile bench -p mixnode"
    elif ! grep -q '\.debug_line' <<<"$sections"; then
        log "note: $exe has symbols but no line tables (a target/release build);" \
            "'cargo build --profile bench -p mixnode' gives target/bench/mixnode with line tables and better dwarf unwinding"
    fi
}

# cpu_list_expand LIST: "0-2,5" -> "0 1 2 5". Dies on a malformed list.
cpu_list_expand() {
    local list="$1" part a b parts=() cpu_nums=()
    [[ "$list" =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]] || die "bad CPU list '$list' (want e.g. 0,2-3)"
    IFS=',' read -r -a parts <<<"$list"
    for part in "${parts[@]}"; do
        if [[ "$part" == *-* ]]; then
            a="${part%-*}"
            b="${part#*-}"
            ((a <= b)) || die "bad CPU range '$part'"
            for ((; a <= b; a++)); do cpu_nums+=("$a"); done
        else
            cpu_nums+=("$part")
        fi
    done
    printf '%s\n' "${cpu_nums[@]}" | sort -n -u | tr '\n' ' ' | sed 's/ $//'
}

# cpu_list_compress "0 1 2 5" -> "0-2,5"
cpu_list_compress() {
    # shellcheck disable=SC2086 # word splitting of the CPU numbers is the point
    printf '%s\n' $1 | sort -n -u | awk '
        NR == 1 { s = $1; p = $1; next }
        $1 == p + 1 { p = $1; next }
        { out = out (out == "" ? "" : ",") (s == p ? s : s "-" p); s = $1; p = $1 }
        END { if (NR) print out (out == "" ? "" : ",") (s == p ? s : s "-" p) }'
}

# online_cpus: expanded list of online CPUs.
online_cpus() {
    if [[ -r /sys/devices/system/cpu/online ]]; then
        cpu_list_expand "$(cat /sys/devices/system/cpu/online)"
    else
        seq 0 $(($(nproc) - 1)) | tr '\n' ' ' | sed 's/ $//'
    fi
}

# thread_affinity TID: the thread's allowed CPU list, e.g. "0-1".
thread_affinity() {
    local line
    line="$(taskset -pc "$1" 2>/dev/null)" || return 1
    printf '%s\n' "${line##*: }"
}

# thread_last_cpu PID TID: the CPU the thread last ran on (field 39 of stat).
thread_last_cpu() {
    local stat
    stat="$(cat "/proc/$1/task/$2/stat" 2>/dev/null)" || return 1
    # The comm field may hold spaces; fields after the closing paren are plain.
    stat="${stat##*) }"
    # shellcheck disable=SC2086 # split the remaining fields on purpose
    set -- $stat
    # After "comm)" field 3 of stat is $1, so field 39 is ${37}.
    printf '%s\n' "${37:-?}"
}

# ctx_switches PID TID: "voluntary nonvoluntary" context switches of a thread so far.
ctx_switches() {
    awk '/^voluntary_ctxt_switches/ { v = $2 } /^nonvoluntary_ctxt_switches/ { n = $2 }
         END { printf "%d %d\n", v, n }' "/proc/$1/task/$2/status" 2>/dev/null
}

# ensure_inferno: inferno on PATH, from ~/.cargo/bin, or installed from crates.io (changes the
# system only when it is missing, and says so). Exports the PATH it found it on.
ensure_inferno() {
    if ! command -v inferno-flamegraph >/dev/null 2>&1 && [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/inferno-flamegraph" ]]; then
        export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    fi
    if command -v inferno-flamegraph >/dev/null 2>&1 && command -v inferno-collapse-perf >/dev/null 2>&1; then
        return 0
    fi
    command -v cargo >/dev/null 2>&1 ||
        die "inferno is not installed and cargo is missing: install Rust (rustup), then 'cargo install inferno --locked'"
    log "inferno not found: running 'cargo install inferno --locked' (a few minutes; CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-all cores})"
    cargo install inferno --locked >&2 || die "cargo install inferno failed"
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    command -v inferno-flamegraph >/dev/null 2>&1 || die "inferno installed but not on PATH"
}
