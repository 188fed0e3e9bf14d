"""bench/reference.py: a benchmark's whole output under a header naming the machine, the date, the command and the load."""
import datetime as dt
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_reference(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_reference", ROOT / "bench" / "reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "HERE", tmp_path / "bench")
    monkeypatch.setattr(module, "RECORDS", tmp_path / "bench" / "reference")
    (tmp_path / "bench").mkdir()
    return module


def test_a_run_is_recorded_with_its_header_and_whole_output(tmp_path, monkeypatch):
    ref = load_reference(tmp_path, monkeypatch)
    (tmp_path / "bench" / "fake.py").write_text(
        "import os, sys\nprint('step 1\\rstep 2 of 2')\nprint('args', sys.argv[1:])\n"
        "print('record', os.environ['BENCH_RECORD'])\nprint('ratio fake = 1.23', file=sys.stderr)\n")
    assert ref.main(["fake", "--scale", "smoke", "--", "--repeat", "1"]) == 0
    path = tmp_path / "bench" / "reference" / f"fake-smoke-{dt.datetime.now(dt.timezone.utc).date()}.txt"
    header, _, body = path.read_text().partition("\n\n")
    fields = dict(line[2:].split(": ", 1) for line in header.splitlines())
    assert fields["command"] == "python bench/fake.py --scale smoke --repeat 1"
    assert fields["exit status"] == "0"
    assert "cores" in fields["machine"] and "GiB RAM" in fields["machine"]
    assert len(fields["load average at start (1, 5, 15 min)"].split()) == 3
    assert len(fields["load average at end (1, 5, 15 min)"].split()) == 3
    assert body.splitlines() == ["step 2 of 2", "args ['--scale', 'smoke', '--repeat', '1']",
                                 f"record bench/reference/{path.name}", "ratio fake = 1.23"]


def test_a_failed_run_is_kept_with_its_status_and_an_unknown_benchmark_is_named(tmp_path, monkeypatch, capsys):
    ref = load_reference(tmp_path, monkeypatch)
    (tmp_path / "bench" / "broken.py").write_text("import sys\nprint('half way')\nsys.exit(3)\n")
    assert ref.main(["broken", "--scale", "full"]) == 3
    (path,) = (tmp_path / "bench" / "reference").glob("broken-full-*.txt")
    assert "# exit status: 3\n" in path.read_text()
    assert ref.main(["nope", "--scale", "full"]) == 2
    assert "no benchmark bench/nope.py; there are: broken" in capsys.readouterr().err
