"""Generating the dummy table: the seed's CTAS as written vs the lab's fast path, side by side, same row count.

    python bench/generate.py --scale smoke|full [--repeat N]

Each round builds the table once per method on the same PostgreSQL (the lab's, started if needed and
stopped again afterwards), in turn (each round starting with the next method), and drops it right after. Prints a table of the median times and
    ratio generate_speedup = <seed median / fast path median> (goal >= 2.4)
The other engineers' work shares this machine: the load average is printed beside the numbers.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

import labkit
from labkit import services
from labkit.workshop import dummy

GOAL = 2.4
METHODS = (  # (label, variant, method, table)
    ("seed CTAS as written", "seed", "sql", "bench_dummy_seed"),
    ("fixed, SQL (FIXED_CTAS)", "fixed", "sql", "bench_dummy_fixed_sql"),
    ("fixed, fast path (2 COPY streams)", "fixed", "copy", "bench_dummy_fixed_copy"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("smoke", "full"), default=os.environ.get("LAB_SCALE", "smoke"))
    parser.add_argument("--repeat", type=int, default=3, help="rounds (the median is reported)")
    args = parser.parse_args(argv)
    os.environ["LAB_SCALE"] = args.scale
    cfg = labkit.load()
    pg = services.get(cfg, "postgres")
    started_here = pg.pid() is None
    services.up(cfg, only=["postgres"], report=lambda _: None)
    times: dict[str, list[float]] = {label: [] for label, *_ in METHODS}
    rows: dict[str, int] = {}
    load_before = os.getloadavg()[0]
    try:
        for round_ in range(args.repeat):
            # each round starts with the next method, so no method always runs right after the same one
            for label, variant, method, table in METHODS[round_ % 3:] + METHODS[:round_ % 3]:
                result = dummy.create_table(cfg, variant=variant, method=method, table=table, progress=False)
                with dummy.connect(cfg) as conn, conn.cursor() as cur:
                    cur.execute(f"drop table {table}")
                times[label].append(result.seconds)
                rows[label] = result.rows
                print(f"  round {round_ + 1}: {label:<36} {result.seconds:7.2f} s", file=sys.stderr, flush=True)
    finally:
        if started_here:
            pg.stop()
    if len(set(rows.values())) != 1 or rows[METHODS[0][0]] != dummy.expected_rows(cfg):
        print(f"row counts differ: {rows}", file=sys.stderr)
        return 1
    seed = statistics.median(times[METHODS[0][0]])
    print(f"\ngenerate: scale={args.scale}, {rows[METHODS[0][0]]:,} rows, {args.repeat} round(s), median seconds "
          f"(load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"{'method':<36} {'median s':>9} {'min s':>7} {'max s':>7} {'Mrows/s':>8} {'vs seed':>8}")
    for label, *_ in METHODS:
        t = times[label]
        med = statistics.median(t)
        print(f"{label:<36} {med:9.2f} {min(t):7.2f} {max(t):7.2f} {rows[label] / med / 1e6:8.2f} {seed / med:7.2f}x")
    print(f"(the seed's own timing: ~{dummy.SEED_SECONDS_ON_RDS} s on RDS for the full table)")
    if args.scale == "smoke":
        print("(at smoke scale fixed costs such as connections dominate; the goal is for --scale full)")
    print(f"ratio generate_speedup = {seed / statistics.median(times[METHODS[-1][0]]):.2f} (goal >= {GOAL})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
