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
