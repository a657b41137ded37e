#!/usr/bin/env bash
# Runs the cargo-fuzz (libFuzzer) targets of fuzz/, one after the other, each for SECONDS.
#
#   bash scripts/fuzz.sh SECONDS              every target (CI runs `bash scripts/fuzz.sh 20`)
#   bash scripts/fuzz.sh SECONDS TARGET...    only these targets
#   bash scripts/fuzz.sh --list               the target names
#
# Each target starts from its seeds in fuzz/corpus/<target>/ (kept in git, never written to);
# what a run discovers goes to fuzz/target/corpus/<target>/ and is reused by later runs on
# this machine. A crash, leak, timeout or out-of-memory input is written to
# fuzz/artifacts/<target>/ and the target's libFuzzer log is kept in fuzz/target/logs/; the
# script then exits non-zero. Reproduce one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -O TARGET fuzz/artifacts/TARGET/crash-...   (from the repository root)
#
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer=address, sancov passes); the machine
# has only a stable toolchain, so RUSTC_BOOTSTRAP=1 lets stable accept them.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ]; then
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi

export RUSTC_BOOTSTRAP=1
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

if [ "$1" = "--list" ]; then
    cargo fuzz list
    exit 0
fi
seconds=$1
shift
case "$seconds" in
'' | *[!0-9]*)
    echo "SECONDS must be a whole number, not '$seconds'" >&2
    exit 2
    ;;
esac
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

# Known leaks outside pecd, each explained in the file.
export LSAN_OPTIONS="suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0"

triple=$(rustc -vV | sed -n 's/^host: //p')
bin_dir=fuzz/target/$triple/release
mkdir -p fuzz/target/logs

start=$(date +%s)
if [ $# -gt 0 ]; then
    for t in "${targets[@]}"; do
        cargo fuzz build -O "$t"
    done
else
    cargo fuzz build -O
fi
echo "fuzz: built ${#targets[@]} targets in $(($(date +%s) - start)) s"

crashed=()
passed=0
for t in "${targets[@]}"; do
    work=fuzz/target/corpus/$t
    artifacts=fuzz/artifacts/$t/
    log=fuzz/target/logs/$t.log
    mkdir -p "$work" "$artifacts" "fuzz/corpus/$t"
    set +e
    # -timeout: one input taking this long is a finding (a hang). -rss_limit_mb: the same for
    # memory. The session targets keep a store on tmpfs, rebuilt every 2000 inputs.
    "$bin_dir/$t" "$work" "fuzz/corpus/$t" \
        -max_total_time="$seconds" -timeout=25 -rss_limit_mb=4096 \
        -artifact_prefix="$artifacts" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        printf '%-16s ok       %10s execs  %6s/s  cov %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}"
    else
        crashed+=("$t")
        artifact=$(ls -t "$artifacts" 2>/dev/null | head -1)
        printf '%-16s CRASHED  %10s execs  %6s/s  exit %s, input %s%s\n' "$t" "${execs:-?}" "${rate:-?}" \
            "$rc" "$artifacts" "${artifact:-?}"
        grep -m1 -E '^==[0-9]+==ERROR|panicked at|^SUMMARY' "$log" | sed 's/^/    /' || true
        echo "    log: $log"
    fi
done

echo "fuzz: ${passed} passed, ${#crashed[@]} failed"
if [ ${#crashed[@]} -gt 0 ]; then
    echo "fuzz: crashed: ${crashed[*]}" >&2
    exit 1
fi
