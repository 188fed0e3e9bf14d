"""The EMR job's raw data: a synthetic retail table with the UCI "Online Retail" schema, as parquet.

The seed's job reads a parquet copy of the real file (541,909 invoice lines, Dec 2010 - Dec 2011). We
generate a table with the same columns, types and oddities, deterministically (same seed, same bytes of
data), so the expected result is known before the job runs:

| column      | type   | oddities kept from the real file                                  |
|-------------|--------|-------------------------------------------------------------------|
| InvoiceNo   | int64  | null for cancellations (the real ones are 'C536379', not numbers) |
| StockCode   | string | mostly 5 digits, some with a letter suffix, a few like 'POST'      |
| Description | string | upper case; null on a few lines (those have UnitPrice 0)           |
| Quantity    | int32  | about 2% negative: the cancellations                               |
| InvoiceDate | string | text like '12/1/2010 8:26' (month/day/year, no leading zeros)      |
| UnitPrice   | double | pounds                                                             |
| CustomerID  | string | empty string where the customer is unknown (about a quarter)       |
| Country     | string | mostly United Kingdom                                              |

`LAB_SCALE=full` writes as many lines as the real file; `smoke` writes 20,000. The files land where the
`RAW_DATA_PATH` variable points: `s3://<bucket>/raw/retail/` (locally `<state>/s3/<bucket>/raw/retail/`).
"""
from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from labkit import connections
from labkit.config import Config
from labkit.emr import bucket
from labkit.progress import tqdm

ROWS = {"smoke": 20_000, "full": 541_909}
SEED = 20101201
FILE_ROWS = 100_000
FIRST_INVOICE = 536365
START = datetime(2010, 12, 1)
DAYS = 374                                  # 2010-12-01 .. 2011-12-09
CANCEL_SHARE = 0.02
UNKNOWN_CUSTOMER_SHARE = 0.25
QUANTITIES = np.array([1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 36, 48, 72, 96, 144, 288])
QUANTITY_P = np.array([28, 14, 6, 5, 2, 8, 3, 4, 13, 2, 2, 5, 2, 2, 1, 1.2, 1, 0.4], dtype=float)
COUNTRIES = ["United Kingdom", "Germany", "France", "EIRE", "Spain", "Netherlands", "Belgium", "Switzerland",
             "Portugal", "Australia", "Norway", "Italy", "Channel Islands", "Finland", "Cyprus", "Sweden"]
COUNTRY_P = np.array([91.4, 1.75, 1.58, 1.51, 0.47, 0.44, 0.38, 0.37, 0.28, 0.23, 0.2, 0.15, 0.14, 0.13,
                      0.11, 0.09])
ADJECTIVES = ["WHITE", "RED", "PINK", "BLUE", "GREEN", "VINTAGE", "RETRO", "REGENCY", "JUMBO", "SMALL",
              "LARGE", "HEART", "STAR", "SPOTTY", "PAISLEY", "GLASS", "WOODEN", "ENAMEL", "ANTIQUE", "SILVER"]
NOUNS = ["T-LIGHT HOLDER", "LANTERN", "BAG", "CAKE CASES", "TEACUP AND SAUCER", "MUG", "CLOCK", "BUNTING",
         "HOT WATER BOTTLE", "LUNCH BOX", "NOTEBOOK", "DOORMAT", "CANDLE", "PHOTO FRAME", "PURSE", "CUSHION COVER",
         "BAKING SET", "PARTY CUPS", "CHRISTMAS DECORATION", "WALL ART"]
SPECIALS = [("POST", "POSTAGE", 18.0), ("M", "Manual", 2.55), ("C2", "CARRIAGE", 50.0), ("DOT", "DOTCOM POSTAGE", 11.17)]


@dataclass
class RetailResult:
    uri: str                 # s3://<bucket>/raw/retail
    path: Path               # the local folder (the bucket folder on `local`, a staging folder on `aws`)
    rows: int
    files: int
    quantity_sum: int        # what the EMR job must write into emr_table
    seconds: float


def rows_for(cfg: Config) -> int:
    return ROWS[cfg.scale]


def _quantities(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Invoice index per line, cancellation flag per invoice, and the (signed) quantity per line."""
    rng = np.random.default_rng([seed, 1])
    sizes = rng.integers(1, 41, size=rows // 10 + 10)            # lines per invoice, 20 on average
    while sizes.sum() < rows:
        sizes = np.concatenate([sizes, rng.integers(1, 41, size=rows // 10 + 10)])
    invoice = np.repeat(np.arange(len(sizes)), sizes)[:rows]
    n_invoices = int(invoice[-1]) + 1 if rows else 0
    cancelled = np.random.default_rng([seed, 2]).random(n_invoices) < CANCEL_SHARE
    q = np.random.default_rng([seed, 3]).choice(QUANTITIES, size=rows, p=QUANTITY_P / QUANTITY_P.sum())
    quantity = np.where(cancelled[invoice], -q, q).astype(np.int32)
    return invoice, cancelled, quantity


def expected_quantity_sum(rows: int, seed: int = SEED) -> int:
    """sum(Quantity) of the table `build(rows, seed)` makes, without building the rest of it."""
    return int(_quantities(rows, seed)[2].sum(dtype=np.int64))


def _catalogue(seed: int) -> tuple[list[str], list[str], np.ndarray]:
    rng = np.random.default_rng([seed, 4])
    codes, descriptions, prices = [], [], []
    seen = set()
    while len(codes) < 400:
        code = str(int(rng.integers(10002, 90215)))
        if rng.random() < 0.2:
            code += "ABCDEFGHLMNPS"[int(rng.integers(0, 13))]
        description = f"{ADJECTIVES[rng.integers(0, len(ADJECTIVES))]} {NOUNS[rng.integers(0, len(NOUNS))]}"
        if code in seen:
            continue
        seen.add(code)
        codes.append(code)
        descriptions.append(description)
        prices.append(round(float(np.clip(rng.lognormal(0.9, 0.8), 0.19, 39.95)), 2))
    for code, description, price in SPECIALS:
        codes.append(code)
        descriptions.append(description)
        prices.append(price)
    return codes, descriptions, np.array(prices)


def build(rows: int, seed: int = SEED):
    """The table as a pyarrow.Table (deterministic for a given rows and seed)."""
    import pyarrow as pa

    invoice, cancelled, quantity = _quantities(rows, seed)
    n_invoices = int(invoice[-1]) + 1 if rows else 0
    rng = np.random.default_rng([seed, 5])
    # invoices in time order: a day, then a time of day between 07:00 and 20:00
    days = np.sort(rng.integers(0, DAYS, size=n_invoices))
    minutes = rng.integers(7 * 60, 20 * 60, size=n_invoices)
    order = np.lexsort((minutes, days))
    days, minutes = days[order], minutes[order]
    stamps = [START + timedelta(days=int(d), minutes=int(m)) for d, m in zip(days, minutes)]
    dates = np.array([f"{t.month}/{t.day}/{t.year} {t.hour}:{t.minute:02d}" for t in stamps], dtype=object)
    customers = rng.integers(12346, 18288, size=n_invoices).astype(str).astype(object)
    customers[rng.random(n_invoices) < UNKNOWN_CUSTOMER_SHARE] = ""
    countries = np.array(COUNTRIES, dtype=object)[rng.choice(len(COUNTRIES), size=n_invoices,
                                                             p=COUNTRY_P / COUNTRY_P.sum())]
    invoice_no = np.where(cancelled, -1, FIRST_INVOICE + np.arange(n_invoices))

    codes, descriptions, prices = _catalogue(seed)
    product_p = np.r_[np.full(len(codes) - len(SPECIALS), 1.0), np.full(len(SPECIALS), 4.0)]
    product = np.random.default_rng([seed, 6]).choice(len(codes), size=rows, p=product_p / product_p.sum())
    description = np.array(descriptions, dtype=object)[product]
    unit_price = prices[product]
    missing = np.random.default_rng([seed, 7]).random(rows) < 0.003      # lines with no description, price 0
    description[missing] = None
    unit_price = np.where(missing, 0.0, unit_price)

    line_invoice = invoice_no[invoice]
    return pa.table({
        "InvoiceNo": pa.array(line_invoice, type=pa.int64(), mask=line_invoice < 0),
        "StockCode": pa.array(np.array(codes, dtype=object)[product], type=pa.string()),
        "Description": pa.array(description, type=pa.string()),
        "Quantity": pa.array(quantity, type=pa.int32()),
        "InvoiceDate": pa.array(dates[invoice], type=pa.string()),
        "UnitPrice": pa.array(unit_price, type=pa.float64()),
        "CustomerID": pa.array(customers[invoice], type=pa.string()),
        "Country": pa.array(countries[invoice], type=pa.string()),
    })


def generate(cfg: Config, *, rows: int | None = None, seed: int = SEED, progress: bool = True) -> RetailResult:
    """Write the raw retail parquet files to RAW_DATA_PATH (replacing what is there). Idempotent."""
    import pyarrow.parquet as pq


    started = time.monotonic()
    rows = rows_for(cfg) if rows is None else rows
    uri = connections.variables(cfg)["RAW_DATA_PATH"]
    table = build(rows, seed)
    local = cfg.profile == "local"
    target = bucket.local_path(cfg.s3_dir, uri) if local else cfg.state_dir / "aws" / "raw" / "retail"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".retail-", dir=target.parent))
    n_files = max(1, -(-rows // FILE_ROWS))
    for i in tqdm(range(n_files), desc="retail parquet", unit="file", disable=not progress):
        pq.write_table(table.slice(i * FILE_ROWS, FILE_ROWS), staging / f"part-{i:05d}.parquet")
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    if not local:
        for f in sorted(target.glob("*.parquet")):
            bucket.upload(cfg, f, f"{uri}/{f.name}")
    quantity_sum = int(np.asarray(table.column("Quantity")).sum(dtype=np.int64))
    return RetailResult(uri=uri, path=target, rows=rows, files=n_files, quantity_sum=quantity_sum,
                        seconds=time.monotonic() - started)
