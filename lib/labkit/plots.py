"""The few charts the notebooks show."""
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
