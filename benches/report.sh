#!/usr/bin/env bash
# Every performance figure of the project beside its raw baseline, in one run:
#
#   benches/report.sh                  (PostgreSQL figures need DATABASE_URL)
#
# Runs, one after another, the benches that measure the framework against a
# hand-written baseline and prints, for each, only its summary (the full
# output of each bench is kept in target/perf-report/<bench>.txt):
#
#   * the event stores' W1-W4, PostgreSQL and SQLite (three rounds, medians);
#   * dispatch of one message to 5 no-op handlers, both buses (criterion
#     means over its samples);
#   * a saga of 5 no-op steps on the in-memory store (the median of batches);
#   * the in-memory event store's one-event saves and loads (median of 31
#     runs) and its memory per event (three rounds in child processes,
#     medians).
#
# The criterion groups of the saga and event_store benches are skipped (the
# filter matches none of them): their closing notes time the same work
# themselves. It takes a few minutes (about two on a quiet machine, after the
# build); figures from a machine that runs other work at the same time are
# noise (the load average is printed at the start and at the end of each
# bench).
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/perf-report
mkdir -p "$out"

echo "Orchestrix performance report"
echo "  date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "  commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "  machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
if [[ -n "${DATABASE_URL:-}" ]] && command -v psql >/dev/null; then
    echo "  server:  $(psql "$DATABASE_URL" -Atc 'SHOW server_version' 2>/dev/null || echo 'PostgreSQL not reachable')"
else
    echo "  server:  DATABASE_URL not set: the PostgreSQL figures are skipped"
fi

cargo bench -p orchestrix-benches --all-features --locked --no-run 2>"$out/build.txt" \
    || { cat "$out/build.txt" >&2; exit 1; }

# bench <name> <title> <first line of its summary> [bench arguments...]
bench() {
    local name="$1" title="$2" marker="$3"
    shift 3
    echo
    echo "== $title  (--bench $name${*:+ -- $*}; load average at start: $(cut -d' ' -f1-3 /proc/loadavg))"
    cargo bench -q -p orchestrix-benches --all-features --locked --bench "$name" -- "$@" \
        >"$out/$name.txt" 2>&1 || { tail -n 20 "$out/$name.txt" >&2; exit 1; }
    if grep -q "skipped" "$out/$name.txt" && ! grep -q -- "$marker" "$out/$name.txt"; then
        grep -m1 "skipped" "$out/$name.txt"
    else
        sed -n "/$marker/,\$p" "$out/$name.txt"
    fi
    echo "(load average at end: $(cut -d' ' -f1-3 /proc/loadavg))"
}

bench postgres_store "PostgreSQL event store, W1-W4 (goal: W1 >= 0.90, W2-W4 >= 0.85)" "medians of"
bench sqlite_store "SQLite event store, W1-W4 (goal: every workload >= 0.80)" "medians of"
bench dispatch "Dispatch, one message to 5 no-op handlers (goal: async <= 150 ns, sync <= 60 ns)" \
    "== pure dispatch" dispatch_to_5
bench saga "Saga of 5 no-op steps, in-memory store (goal: <= 2 µs)" "saga closing note" \
    only-the-closing-note
bench event_store "In-memory event store (goal: saves and loads <= 2x the hand-written store)" \
    "event_store closing note" only-the-closing-note
bench event_store_memory "In-memory event store, memory per event (goal: <= 300 bytes)" "medians of"
