"""What 10x and 100x the workshop's data would need on EMR, projected from one machine's measured stages.

Input: each stage as `seconds = fixed + rows / rate` on a number of cores (`labkit.workshop.growth.fit`), the
bytes one table takes (PostgreSQL heap, landed parquet, aggregates) and this machine's RAM and free disk.
Output: one row per size (`project`): one machine's minutes and whether the data fits on it, then the EMR
cluster of `spec.EMR_INSTANCE_TYPE` nodes that finishes a run within `target_minutes` including its start-up,
its minutes and its dollars per run (`prices.json`: EC2 + the EMR fee + EBS). Every assumption is a parameter
of `Assumptions` and is printed beside the table (`Assumptions.lines`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from labkit.aws import cost, spec
from labkit.errors import LabError

GIB = 2**30


@dataclass(frozen=True)
class Assumptions:
    startup_minutes: float = spec.EMR_STARTUP_MINUTES   # create -> RUNNING; not measured here (spec.py)
    target_minutes: float = 15.0        # a run, start-up included, should finish within this (a batch window)
    vcpu_speed: float = 1.0             # one EMR vCPU does the work of one core of the measured machine
    masters: int = 1                    # the master node coordinates and is billed, but runs no tasks
    max_nodes: int = 100

    def lines(self, stages: dict, instance: str = spec.EMR_INSTANCE_TYPE) -> list[str]:
        """One line per assumption, as the notebook prints them beside the table."""
        basis = ", ".join(f"{s.name}: {s.source} ({s.fixed_seconds:.1f} s fixed + {s.rows_per_second:,.0f} rows/s "
                          f"on {s.cores} cores)" for s in stages.values())
        return [
            f"one machine: each stage takes fixed + rows / rate, fitted to the quarter/half/all series; {basis}",
            "one machine at 10x and 100x: the same rate, which holds while what a stage reads (the table, the landed files) "
            "fits in RAM, as in the series; read from disk it is slower",
            f"EMR nodes: {instance}, {vcpus(instance)} vCPUs and {memory_gib(instance)} GiB each (spec.py, AWS's published "
            f"figures); {self.masters} master that runs no tasks, the rest workers; at least the seed's "
            f"{spec.emr_nodes()} nodes",
            f"EMR speed: one vCPU = {self.vcpu_speed:g} core of the measured machine; the rows part of each stage "
            "spreads evenly over the workers' vCPUs, the fixed part does not",
            "EMR import: the source database serves one stream per worker vCPU (the lab's db.t4g.small would not: "
            "a larger database is needed and is not priced here)",
            f"EMR start-up: {self.startup_minutes:g} min from create to running (an assumption, not measured here), "
            "billed like the rest",
            f"EMR size: the fewest nodes whose run, start-up included, takes <= {self.target_minutes:g} min "
            f"(at most {self.max_nodes})",
            f"prices: {cost.prices()['region']} on-demand, {cost.prices()['as_of']} (prices.json): EC2 + EMR fee per "
            f"instance-hour, EBS {spec.EMR_EBS_GB_PER_NODE} GB gp2 per node; per second, no minimum, "
            "no data transfer",
            "bytes: PostgreSQL heap, landed parquet and aggregates grow with the rows; one machine holds all three",
        ]


def vcpus(instance: str = spec.EMR_INSTANCE_TYPE) -> int:
    if instance not in spec.EMR_INSTANCE_VCPUS or instance not in spec.EMR_INSTANCE_MEMORY_GIB:
        raise LabError(f"no vCPU or memory figure for {instance!r} in labkit/aws/spec.py; add it beside "
                       f"{', '.join(spec.EMR_INSTANCE_VCPUS)} (AWS's instance types page)")
    return spec.EMR_INSTANCE_VCPUS[instance]


def memory_gib(instance: str = spec.EMR_INSTANCE_TYPE) -> int:
    vcpus(instance)
    return spec.EMR_INSTANCE_MEMORY_GIB[instance]


def one_machine_minutes(stages: dict, rows: float) -> float:
    return sum(s.seconds(rows) for s in stages.values()) / 60


def emr_minutes(stages: dict, rows: float, nodes: int, a: Assumptions = Assumptions(),
                instance: str = spec.EMR_INSTANCE_TYPE) -> float:
    """A run on `nodes` nodes: start-up, then each stage with its rows over the workers' vCPUs."""
    workers = nodes - a.masters
    if workers < 1:
        raise LabError(f"{nodes} EMR node(s) with {a.masters} master leave no worker: give at least {a.masters + 1}")
    cores = workers * vcpus(instance) * a.vcpu_speed
    return a.startup_minutes + sum(s.seconds(rows, cores) for s in stages.values()) / 60


def usd_per_run(nodes: int, minutes: float, instance: str = spec.EMR_INSTANCE_TYPE) -> float:
    """EC2 and the EMR fee per instance-hour, and each node's EBS volumes per GB-month, for `minutes`."""
    return cost.emr_run(minutes, nodes, instance, addresses=False)


def nodes_for(stages: dict, rows: float, a: Assumptions = Assumptions(), instance: str = spec.EMR_INSTANCE_TYPE):
    """The fewest nodes (>= the seed's) whose run meets the target, and whether it does (at max_nodes it may not)."""
    for nodes in range(max(spec.emr_nodes(), a.masters + 1), a.max_nodes + 1):
        if emr_minutes(stages, rows, nodes, a, instance) <= a.target_minutes:
            return nodes, True
    return a.max_nodes, False


def fits(need_bytes: float, ram_bytes: float, disk_free_bytes: float, read_bytes: float) -> str:
    """Whether a run's bytes fit on this disk, and whether the largest thing a stage reads fits in RAM."""
    if need_bytes > disk_free_bytes:
        return f"no: needs {need_bytes / GIB:,.0f} GiB of disk, {disk_free_bytes / GIB:,.0f} GiB free"
    if read_bytes > ram_bytes:
        return f"on disk, not in RAM: reads {read_bytes / GIB:,.0f} GiB, {ram_bytes / GIB:,.0f} GiB RAM (slower)"
    return "yes"


def crossover(stages: dict, a: Assumptions = Assumptions(), nodes: int | None = None) -> float | None:
    """The rows from which a cluster of `nodes` (the seed's) finishes sooner than one machine; None if never."""
    nodes = nodes or spec.emr_nodes()
    lo, hi = 1.0, 1e15
    if emr_minutes(stages, hi, nodes, a) >= one_machine_minutes(stages, hi):
        return None
    for _ in range(200):                 # bisection on a log scale: both sides are straight lines in the rows
        mid = math.sqrt(lo * hi)
        if emr_minutes(stages, mid, nodes, a) < one_machine_minutes(stages, mid):
            hi = mid
        else:
            lo = mid
    return hi


def curves(stages: dict, table_rows: int, a: Assumptions = Assumptions(), points: int = 80) -> dict[str, tuple]:
    """label -> (rows, minutes) from a quarter of the table to 150x: one machine, the seed's cluster, one sized."""
    import numpy as np

    rows = np.geomspace(table_rows / 4, table_rows * 150, points)
    seed = spec.emr_nodes()
    sized = [nodes_for(stages, n, a)[0] for n in rows]
    return {"one machine": (rows, [one_machine_minutes(stages, n) for n in rows]),
            f"EMR, the seed's {seed} nodes": (rows, [emr_minutes(stages, n, seed, a) for n in rows]),
            f"EMR, the fewest nodes for <= {a.target_minutes:g} min":
                (rows, [emr_minutes(stages, n, k, a) for n, k in zip(rows, sized)])}


def disk_full_rows(table_rows: int, bytes_per_table: dict, disk_free_bytes: float) -> float:
    """The rows at which one table's bytes (heap + landed + aggregates) fill this machine's free disk."""
    return table_rows * disk_free_bytes / sum(bytes_per_table.values())


def project(stages: dict, rows: int, bytes_per_table: dict, ram_bytes: float, disk_free_bytes: float,
            factors=(1, 10, 100), a: Assumptions = Assumptions(), instance: str = spec.EMR_INSTANCE_TYPE):
    """One row per size (`factors` x the table's `rows`); `bytes_per_table`: heap, landed, aggregates of 1x."""
    import pandas as pd

    missing = {"heap", "landed", "aggregates"} - set(bytes_per_table)
    if missing:
        raise LabError(f"bytes_per_table lacks {', '.join(sorted(missing))} (bytes of one table: heap, landed, aggregates)")
    out = []
    for k in factors:
        n = k * rows
        nodes, met = nodes_for(stages, n, a, instance)
        minutes = emr_minutes(stages, n, nodes, a, instance)
        need = k * sum(bytes_per_table.values())
        out.append({"size": f"{k}x", "rows": int(n), "one machine min": round(one_machine_minutes(stages, n), 1),
                    "fits on one machine?": fits(need, ram_bytes, disk_free_bytes,
                                                 k * max(bytes_per_table["heap"], bytes_per_table["landed"])),
                    "EMR nodes": nodes, "EMR vCPUs / RAM GiB": f"{nodes * vcpus(instance)} / {nodes * memory_gib(instance)}",
                    "EMR min (incl. start-up)": round(minutes, 1), "meets the target?": "yes" if met else "no",
                    "USD per run": round(usd_per_run(nodes, minutes, instance), 2)})
    return pd.DataFrame(out).set_index("size")
