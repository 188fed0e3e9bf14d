"""The checks of notebook 07's exercises (to be written)."""
from __future__ import annotations

from labkit.exercises.checking import exercise  # noqa: F401

