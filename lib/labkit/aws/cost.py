"""What a session on AWS costs, before anything is made: sizes from `spec` x prices from `prices.json`."""
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


def estimate(region: str, *, hours: float = 4.0, emr_runs: int = 2, emr_minutes: float = 20.0):
    """One row per thing that costs money, for a session of `hours` with `emr_runs` EMR clusters.

    The databases run for the whole session; each run of the EMR DAG makes a cluster of the seed's
    three nodes for about `emr_minutes`. Storage and secrets are billed per month, so they are prorated.
    """
    import pandas as pd

    if hours <= 0 or emr_runs < 0 or emr_minutes < 0:
        raise LabError(f"estimate needs hours > 0, emr_runs >= 0 and emr_minutes >= 0 "
                       f"(got hours={hours}, emr_runs={emr_runs}, emr_minutes={emr_minutes})")
    pg, au = spec.POSTGRES, spec.AURORA
    nodes = sum(n for _, n in spec.EMR_INSTANCE_GROUPS)
    emr_hours = nodes * emr_runs * emr_minutes / 60
    month = hours / HOURS_PER_MONTH
    rows = [
        ("RDS PostgreSQL", pg.instance_class, hours, "instance-hour", f"rds-postgres {pg.instance_class}"),
        ("RDS storage", f"gp3 {pg.storage_gb} GB", pg.storage_gb * month, "GB-month", "rds-storage gp3"),
        ("Aurora MySQL", au.instance_class, hours, "instance-hour", f"aurora-mysql {au.instance_class}"),
        ("Aurora storage", "about 1 GB", 1 * month, "GB-month", "aurora-storage"),
        ("EMR nodes (EC2)", f"{nodes} x {spec.EMR_INSTANCE_TYPE}", emr_hours, "instance-hour",
         f"ec2 {spec.EMR_INSTANCE_TYPE}"),
        ("EMR service fee", f"{nodes} x {spec.EMR_INSTANCE_TYPE}", emr_hours, "instance-hour",
         f"emr {spec.EMR_INSTANCE_TYPE}"),
        ("Public IPv4 addresses", f"2 databases + {nodes} EMR nodes", 2 * hours + emr_hours, "address-hour",
         "vpc public-ipv4"),
        ("S3 bucket", "about 1 GB (jobs, jar, raw data, logs)", 1 * month, "GB-month", "s3 standard"),
        ("Secrets Manager", "2 secrets", 2 * month, "secret-month", "secretsmanager secret"),
    ]
    lines = [{"item": item, "size": size, "quantity": round(qty, 4), "unit": unit, "USD per unit": price(key),
              "USD": round(qty * price(key), 2)} for item, size, qty, unit, key in rows]
    lines.append({"item": "total", "size": f"{hours:g} h session, {emr_runs} EMR runs of {emr_minutes:g} min",
                  "quantity": None, "unit": "", "USD per unit": None,
                  "USD": round(sum(qty * price(key) for _, _, qty, _, key in rows), 2)})
    table = pd.DataFrame(lines).set_index("item")
    # What a forgotten lab costs: the databases and their addresses keep running until the teardown.
    table.attrs["usd_per_day_if_left_running"] = round(24 * (
        price(f"rds-postgres {pg.instance_class}") + price(f"aurora-mysql {au.instance_class}")
        + 2 * price("vpc public-ipv4")), 2)
    meta = prices()
    table.attrs["note"] = (f"{meta['currency']} on-demand list prices for {meta['region']} as of {meta['as_of']} "
                           f"({PRICES_FILE.name})" + ("" if region == meta["region"] else
                                                      f"; your region {region} may differ"))
    return table
