"""What a session on AWS costs, before anything is made: sizes from `spec` x prices from `prices.json`.

The prices are reference figures with their source and date (prices.json), not truths; the quantities that
depend on what the learner does (Aurora I/O requests, data sent out of AWS) are stated assumptions, and
parameters of `estimate`.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from labkit.aws import spec
from labkit.errors import LabError

PRICES_FILE = Path(__file__).with_name("prices.json")
HOURS_PER_MONTH = 730


@lru_cache(maxsize=1)
def prices() -> dict:
    return json.loads(PRICES_FILE.read_text())


def price(key: str) -> float:
    table = prices()["prices"]
    if key not in table:
        raise LabError(f"no price for {key!r} in {PRICES_FILE}; add it (with its unit) next to the others")
    return table[key]["usd"]


def estimate(region: str, *, hours: float = 4.0, emr_runs: int = 2, emr_minutes: float = spec.EMR_RUN_MINUTES,
             workshop_runs: int = 1, workshop_minutes: float = 15.0, aurora_io_millions: float = 1.0,
             transfer_gb: float = 1.0):
    """One row per thing that costs money, for a session of `hours` with `emr_runs` EMR clusters.

    The databases run for the whole session; each run of the EMR DAG makes a cluster of the seed's
    three nodes (each with its EBS volumes) for about `emr_minutes`, and each daily run of the workshop DAG
    (`workshop_runs`) a cluster of its two for about `workshop_minutes`. Storage and secrets are billed per
    month, so they are prorated. `aurora_io_millions`: Aurora I/O requests in millions (the EMR job's
    inserts and the notebooks' reads: about a million at this size, assumed); `transfer_gb`: data sent out
    of AWS to the learner (query results, logs; assumed 1 GB).
    """
    import pandas as pd

    counts = (emr_runs, emr_minutes, workshop_runs, workshop_minutes, aurora_io_millions, transfer_gb)
    if hours <= 0 or min(counts) < 0:
        raise LabError(f"estimate needs hours > 0 and emr_runs, emr_minutes, workshop_runs, workshop_minutes, "
                       f"aurora_io_millions, transfer_gb >= 0 (got hours={hours}, emr_runs={emr_runs}, "
                       f"emr_minutes={emr_minutes}, workshop_runs={workshop_runs}, workshop_minutes={workshop_minutes}, "
                       f"aurora_io_millions={aurora_io_millions}, transfer_gb={transfer_gb})")
    pg, au = spec.POSTGRES, spec.AURORA
    nodes, workshop_nodes = spec.emr_nodes(), spec.emr_nodes(spec.WORKSHOP_EMR_INSTANCE_GROUPS)
    emr_hours = (nodes * emr_runs * emr_minutes + workshop_nodes * workshop_runs * workshop_minutes) / 60
    clusters = (f"{emr_runs} x {nodes} (EMR job) + {workshop_runs} x {workshop_nodes} (workshop job) "
                f"{spec.EMR_INSTANCE_TYPE}")
    month = hours / HOURS_PER_MONTH
    secrets = sum(len(db.logins()) for db in spec.DATABASES)
    rows = [
        ("RDS PostgreSQL", pg.instance_class, hours, "instance-hour", f"rds-postgres {pg.instance_class}"),
        ("RDS storage", f"gp3 {pg.storage_gb} GB", pg.storage_gb * month, "GB-month", "rds-storage gp3"),
        ("Aurora MySQL", au.instance_class, hours, "instance-hour", f"aurora-mysql {au.instance_class}"),
        ("Aurora storage", "about 1 GB", 1 * month, "GB-month", "aurora-storage"),
        ("Aurora I/O", "assumed", aurora_io_millions, "million requests", "aurora-io"),
        ("EMR nodes (EC2)", clusters, emr_hours, "instance-hour", f"ec2 {spec.EMR_INSTANCE_TYPE}"),
        ("EMR service fee", clusters, emr_hours, "instance-hour", f"emr {spec.EMR_INSTANCE_TYPE}"),
        ("EMR EBS volumes", f"{spec.EMR_EBS_GB_PER_NODE} GB gp2 per node",
         spec.EMR_EBS_GB_PER_NODE * emr_hours / HOURS_PER_MONTH, "GB-month", "ebs gp2"),
        ("Data transfer out", "assumed (results, logs)", transfer_gb, "GB", "data-transfer-out"),
        ("Public IPv4 addresses", "2 databases + every EMR node", 2 * hours + emr_hours, "address-hour",
         "vpc public-ipv4"),
        ("S3 bucket", "about 1 GB (jobs, jar, raw data, logs)", 1 * month, "GB-month", "s3 standard"),
        ("Secrets Manager", f"{secrets} secrets", secrets * month, "secret-month", "secretsmanager secret"),
    ]
    lines = [{"item": item, "size": size, "quantity": round(qty, 4), "unit": unit, "USD per unit": price(key),
              "USD": round(qty * price(key), 2)} for item, size, qty, unit, key in rows]
    lines.append({"item": "total", "size": f"{hours:g} h session, {emr_runs} EMR job runs of {emr_minutes:g} min, "
                                           f"{workshop_runs} workshop job runs of {workshop_minutes:g} min",
                  "quantity": None, "unit": "", "USD per unit": None,
                  "USD": round(sum(qty * price(key) for _, _, qty, _, key in rows), 2)})
    table = pd.DataFrame(lines).set_index("item")
    # What a forgotten lab costs: the databases and their addresses keep running until the teardown.
    table.attrs["usd_per_day_if_left_running"] = round(24 * (
        price(f"rds-postgres {pg.instance_class}") + price(f"aurora-mysql {au.instance_class}")
        + 2 * price("vpc public-ipv4")), 2)
    meta = prices()
    table.attrs["note"] = (f"{meta['currency']} on-demand list prices for {meta['region']} as of {meta['as_of']}, "
                           f"reference figures with their sources in {PRICES_FILE.name}" + (
                               "" if region == meta["region"] else f"; your region {region} may differ"))
    table.attrs["sources"] = {key: prices()["prices"][key]["source"] for *_, key in rows}
    return table


def emr_run(minutes: float = 15.0, nodes: int | None = None, instance: str = spec.EMR_INSTANCE_TYPE,
            addresses: bool = True) -> float:
    """USD for one ephemeral EMR cluster of `nodes` (the seed's three by default) for `minutes`: EC2 and the EMR
    fee per instance-hour, each node's EBS volumes, and (`addresses`) each node's public IPv4 address. What one
    run of a DAG that makes its own cluster costs: the EMR job, or the workshop job on aws, whose every daily run
    makes one (about 15 minutes, start-up included, is an assumption)."""
    nodes = spec.emr_nodes() if nodes is None else nodes
    if nodes < 1 or minutes < 0:
        raise LabError(f"emr_run needs nodes >= 1 and minutes >= 0 (got nodes={nodes}, minutes={minutes})")
    hours = nodes * minutes / 60
    return hours * (price(f"ec2 {instance}") + price(f"emr {instance}")
                    + spec.EMR_EBS_GB_PER_NODE / HOURS_PER_MONTH * price("ebs gp2")
                    + (price("vpc public-ipv4") if addresses else 0.0))
