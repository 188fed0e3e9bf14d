"""Record one reference run of a benchmark: its whole output, under a header naming the machine and its load.

    python bench/reference.py series --scale full [-- more arguments for the benchmark]

Runs `bench/<benchmark>.py --scale <scale> ...` with this Python, shows its output as it comes, and writes it
to `bench/reference/<benchmark>-<scale>-<date>.txt` (UTC date of the start) below a header of `# key: value`
lines: the command, start and end (UTC), the machine (CPU model, cores and RAM, from /proc), the load average
(1, 5, 15 minutes) at the start and at the end, the 1-minute load sampled every 30 s in between (mean and
maximum), and the exit status. A figure the README or a notebook marks with † is copied from one such file,
which its footnote names; tests/test_number_claims.py checks that the figure is in it.

Other work shares the machine (other people's tests, builds, benchmarks): the load is recorded, not avoided.
A run with a non-zero exit status is kept too (the header says so); the test accepts only runs that exited 0.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECORDS = HERE / "reference"
RECORD_ENV = "BENCH_RECORD"     # the benchmark learns the file its output goes to (growth.py --write keeps it)
_REDRAWN = re.compile(r"[^\n]*\r(?=[^\n])")   # a progress bar's earlier states: keep the line's last one


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def ram_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024 / 2**30
    return 0.0


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> str:
    return f"{cpu_model()}, {os.cpu_count()} cores, {ram_gib():.1f} GiB RAM ({platform.machine()}, Linux {platform.release()})"


class LoadSampler(threading.Thread):
    """The 1-minute load average every `interval` seconds until stop()."""

    def __init__(self, interval: float = 30.0):
        super().__init__(daemon=True)
        self.interval, self.done, self.samples = interval, threading.Event(), [os.getloadavg()[0]]

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> str:
        self.done.set()
        self.join()
        self.samples.append(os.getloadavg()[0])
        return f"mean {sum(self.samples) / len(self.samples):.2f}, max {max(self.samples):.2f} ({len(self.samples)} samples)"


def record_path(benchmark: str, scale: str, day: dt.date) -> Path:
    return RECORDS / f"{benchmark}-{scale}-{day.isoformat()}.txt"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", help="a script of bench/, without .py (series, generate, growth, ...)")
    parser.add_argument("--scale", choices=("smoke", "full"), required=True)
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1:] if "--" in argv else []       # the benchmark's own, after --
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    args.extra = extra
    script = HERE / f"{args.benchmark}.py"
    if not script.is_file() or args.benchmark == "reference":
        print(f"no benchmark bench/{args.benchmark}.py; there are: "
              f"{', '.join(p.stem for p in sorted(HERE.glob('*.py')) if p.stem != 'reference')}", file=sys.stderr)
        return 2
    command = ["python", f"bench/{script.name}", "--scale", args.scale, *args.extra]
    start = dt.datetime.now(dt.timezone.utc)
    load_start, sampler = loadavg(), LoadSampler()
    sampler.start()
    lines: list[str] = []
    path = record_path(args.benchmark, args.scale, start.date())
    record = str(path.relative_to(HERE.parent))        # a benchmark that saves figures names where they came from
    proc = subprocess.Popen([sys.executable, str(script), "--scale", args.scale, *args.extra], cwd=HERE.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,   # bytes: a \r stays a \r
                            env={**os.environ, "PYTHONUNBUFFERED": "1", RECORD_ENV: record})   # its lines in the order they came
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.decode("utf-8", errors="replace")
        sys.stdout.write(line)
        sys.stdout.flush()
        lines.append(_REDRAWN.sub("", line.rstrip("\n")))
    status = proc.wait()
    during = sampler.stop()
    end = dt.datetime.now(dt.timezone.utc)
    lab = ", ".join(f"{k}={v}" for k, v in sorted(os.environ.items())
                    if k in ("LAB_STATE_DIR", "LAB_PROFILE") or k.startswith("LAB_PORT_"))
    header = [
        f"# benchmark: bench/{script.name}",
        f"# command: {' '.join(command)}",
        f"# start: {start:%Y-%m-%d %H:%M:%S} UTC",
        f"# end: {end:%Y-%m-%d %H:%M:%S} UTC ({(end - start).total_seconds() / 60:.1f} minutes)",
        f"# machine: {machine()}",
        f"# load average at start (1, 5, 15 min): {load_start}",
        f"# load average at end (1, 5, 15 min): {loadavg()}",
        f"# 1-minute load average during the run, every 30 s: {during}",
        f"# lab: {lab or 'lab.toml defaults'}",
        f"# exit status: {status}",
    ]
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(header + [""] + lines) + "\n")
    print(f"\nrecorded: {record}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
