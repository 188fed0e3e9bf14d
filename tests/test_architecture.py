"""The architecture pictures are drawn from code, and the committed ones are what that code draws."""
from pathlib import Path

from PIL import Image

from labkit import architecture

ROOT = Path(__file__).resolve().parents[1]


def test_pictures_are_drawn_from_code(tmp_path):
    paths = architecture.draw_all(tmp_path)
    assert [p.name for p in paths] == ["workshop_job.png", "emr_job.png"]
    for path in paths:
        drawn = Image.open(path)
        committed = Image.open(ROOT / "images" / path.name)
        assert drawn.width > 600 and drawn.height > 300
        # same picture (Graphviz output can differ by a few pixels between builds, so compare the size)
        assert abs(drawn.width - committed.width) <= 20 and abs(drawn.height - committed.height) <= 20
