"""The few charts the notebooks show: a DAG run's Gantt chart (06), the aggregation's counts (05)."""
from __future__ import annotations

STATE_COLORS = {"success": "#2e7d32", "failed": "#c62828", "upstream_failed": "#ef6c00", "skipped": "#9e9e9e",
                "running": "#1565c0", "queued": "#78909c"}


def gantt(frame, title: str = "", ax=None):
    """A DAG run as horizontal bars: one per task, from its start to its end (frame from gantt_frame)."""
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
