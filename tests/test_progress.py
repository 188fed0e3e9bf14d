"""labkit.progress: widgets only inside a kernel someone watches, text bars everywhere else."""
import ipykernel  # noqa: F401 - imported, as nbval and the runner's tests do; this process is still no kernel
import tqdm.notebook
import tqdm.std

from labkit import progress


def test_a_process_that_imported_ipykernel_is_not_a_notebook(capsys):
    assert not progress.in_notebook() and not progress.use_widgets()
    bar = progress.tqdm(range(3), desc="steps")
    assert type(bar) is tqdm.std.tqdm
    for _ in bar:
        pass
    assert "steps: 100%" in capsys.readouterr().err


def test_a_failed_bar_says_failed_and_a_full_widget_stays_red(capsys):
    text = progress.tqdm(total=2, desc="run")
    text.n = 2
    progress.mark_failed(text)
    text.close()
    assert capsys.readouterr().err.rstrip().replace("\r", "\n").splitlines()[-1].startswith("run: failed: 100%")
    widget = tqdm.notebook.tqdm(total=2, desc="run")    # the bar a watched notebook gets
    widget.n = 2
    progress.mark_failed(widget)
    widget.close()                                     # a full bar would turn green ("success") here
    assert widget.container.children[1].bar_style == "danger" and widget.desc == "run: failed"
