"""The few charts the notebooks show: a DAG run's Gantt chart (07), the aggregation's counts (06), how the
workshop's run grows on one machine and on EMR (09)."""
from __future__ import annotations

STATE_COLORS = {"success": "#2e7d32", "failed": "#c62828", "upstream_failed": "#ef6c00", "skipped": "#9e9e9e",
                "running": "#1565c0", "queued": "#78909c"}


def gantt(frame, title: str = "", ax=None):
    """A DAG run as horizontal bars: one per task, from its start for its seconds (a frame with task_id, state, start,
    seconds: a notebook makes it from the task instances; or from the REST API's task instances)."""
    import matplotlib.pyplot as plt

    frame = frame.dropna(subset=["start"])
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.5 * max(len(frame), 2) + 1))
    t0 = frame["start"].min()
    for i, row in enumerate(frame.itertuples()):
        start = (row.start - t0).total_seconds()
        length = row.seconds if row.seconds == row.seconds else 0   # NaN while running
        ax.barh(i, max(length, 0.2), left=start, color=STATE_COLORS.get(row.state, "#607d8b"))
        ax.text(start + max(length, 0.2) + 0.3, i, f"{length:.1f} s", va="center", fontsize=8)
    ax.set_yticks(range(len(frame)), frame["task_id"])
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the first task started")
    ax.set_title(title)
    ax.figure.tight_layout()
    return ax


def aggregates(hourly, daily, title: str = ""):
    """The aggregation's two tables (from `workshop.aggregates.read`) as two views of the counts: rows per day
    (all lines) and rows per hour of the day (all lines, all days)."""
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.ticker import StrMethodFormatter

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.4))
    per_day = daily.groupby("day")["rows"].sum()
    days = pd.to_datetime(per_day.index)
    if len(days) <= 14:                       # a few days: one labelled bar each
        left.bar([d.strftime("%Y-%m-%d") for d in days], per_day.values, width=0.6, color="#1565c0")
    else:                                     # months of days: a date axis
        left.bar(days, per_day.values, width=1.0, color="#1565c0")
        left.xaxis.set_major_formatter(mdates.ConciseDateFormatter(left.xaxis.get_major_locator()))
    left.set_title("rows per day (all lines)")
    per_hour = hourly.groupby("hour")["rows"].sum().reindex(range(24), fill_value=0)
    right.bar(per_hour.index, per_hour.values, color="#2e7d32")
    right.set_title("rows per hour of the day (all lines, all days)")
    right.set_xlabel("hour")
    right.set_xticks(range(0, 24, 3))
    for ax in (left, right):
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    left.set_ylabel("rows")
    fig.suptitle(title)
    fig.tight_layout()
    return fig



def growth(curves: dict[str, tuple], measured: dict[str, list], table_rows: int, target_minutes: float | None = None,
           disk_rows: float | None = None, title: str = ""):
    """Minutes per run against rows per run (log-log): the lines of `curves` (label -> (rows, minutes), from
    `aws.growth.curves`), the points of `measured` (label -> [(rows, minutes), ...]), the target as a dotted
    line and, at `disk_rows`, where this machine's disk is full."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2))
    for (label, (rows, minutes)), style in zip(curves.items(), [("#c62828", "-"), ("#1565c0", "--"), ("#1565c0", "-")]):
        ax.plot(rows, minutes, color=style[0], ls=style[1], label=label)
    for (label, pts), marker in zip(measured.items(), "os^"):
        if pts:
            ax.scatter(*zip(*pts), marker=marker, color="black", zorder=3, label=label)
    if target_minutes:
        ax.axhline(target_minutes, color="#9e9e9e", lw=0.8, ls=":", label=f"the target, {target_minutes:g} min")
    if disk_rows:
        ax.axvline(disk_rows, color="#ef6c00", lw=1, ls=":", label="this machine's disk is full")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for k in (1, 10, 100):
        ax.axvline(k * table_rows, color="#e0e0e0", lw=0.8, zorder=0)
        ax.annotate(f"{k}x", (k * table_rows, 1), xycoords=("data", "axes fraction"), va="top", fontsize=8,
                    color="#616161", xytext=(2, -2), textcoords="offset points")
    ax.set_xlabel("rows per run")
    ax.set_ylabel("minutes per run")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title)
    fig.tight_layout()
    return fig
