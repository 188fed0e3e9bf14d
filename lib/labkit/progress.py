"""Progress bars: widgets in a notebook someone is watching, text everywhere else.

`tqdm.auto` draws a widget whenever it runs inside a Jupyter kernel. A notebook run headless by
papermill (`labkit run`, `make run`) has no browser to draw it, and the executed notebook keeps only the
widget's first picture: "0%". `labkit run` therefore sets `LAB_PROGRESS=text` for its kernels, and
every bar in labkit comes from `tqdm()` here, which then writes tqdm's text bar; its last state (100%)
is what the saved notebook shows.

    LAB_PROGRESS=auto (default)   widgets in a notebook, text in a terminal or a log
    LAB_PROGRESS=text             text always
"""
from __future__ import annotations

import os
import sys

ENV = "LAB_PROGRESS"


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter kernel (not merely in a process that imported ipykernel: pytest)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    return shell is not None and "IPKernelApp" in shell.config


def use_widgets() -> bool:
    """Whether bars should be notebook widgets: in a kernel, not told otherwise, and ipywidgets importable."""
    if os.environ.get(ENV, "auto") == "text" or not in_notebook():
        return False
    try:
        import ipywidgets  # noqa: F401 - tqdm's notebook bars need it
    except ImportError:
        return False
    return True


def tqdm(*args, **kwargs):
    """A tqdm bar of the right kind (see the module docstring); same arguments as tqdm's."""
    if use_widgets():
        from tqdm.notebook import tqdm as bar
    else:
        from tqdm.std import tqdm as bar
    return bar(*args, **kwargs)


def mark_failed(bar, why: str = "failed") -> None:
    """Show a bar whose work failed as failed, before closing it: `why` ends its description, and a notebook
    widget turns red (tqdm keeps a "danger" bar red when it closes; a full bar would otherwise turn green)."""
    bar.set_description_str(f"{bar.desc}: {why}", refresh=False)
    if hasattr(bar, "container"):             # tqdm.notebook's widget
        bar.disp(bar_style="danger", check_delay=False)
    bar.refresh()
