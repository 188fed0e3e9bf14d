"""A step's logs, as EMR keeps them: stdout, stderr and controller, gzipped when the step ends; and the
line that explains a failed step (its `FailureDetails.Reason`).

The reason is the first real error line of the driver, whether it printed it on stderr (a Python traceback,
`Exception in thread "main" ...`) or on stdout (a job that prints what went wrong). Lines of a log4j
record below ERROR (INFO/WARN/DEBUG, with the stack trace a WARN carries) are noise, never the reason.
"""
from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

NAMES = ("controller", "stdout", "stderr")
# an exception or error line: `Exception in thread ...`, `Error: ...`, `pkg.SomeError: ...`, and the Java
# cause Py4J prints under its own line (`: java.sql.SQLException: ...`)
ERROR_LINE = re.compile(r"^:?\s*(Exception in thread .*|Error: .*|[\w.$]*(Error|Exception)\b.*)$")
# `py4j.protocol.Py4JJavaError: An error occurred while calling o52.save.`: a wrapper, its cause follows
WRAPPER = re.compile(r"^[\w.]*Py4JJavaError: An error occurred while calling ")
# a log4j record header (Spark's default layout, or ISO dates) and its level
RECORD = re.compile(r"^\d{2,4}[/-]\d{2}[/-]\d{2}[ T]\d{2}:\d{2}:\d{2}\S*\s+(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\b")
NOISE_LEVELS = {"TRACE", "DEBUG", "INFO", "WARN"}
LIMIT = 500


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []


def _errors(lines: list[str]) -> list[str]:
    """The error lines of a log, in order, without those inside an INFO/WARN/DEBUG log4j record."""
    found, level = [], None
    for raw in lines:
        line = raw.strip()
        header = RECORD.match(line)
        if header:
            level = header.group(1)
            continue
        if not line or line.startswith("Traceback (most recent call last)") or line.startswith("Exception in thread"):
            level = None                   # a blank line or a new traceback ends the record it followed
        if level in NOISE_LEVELS:
            continue
        if ERROR_LINE.match(line):
            found.append(line.lstrip(": ").strip())
    causes = [line for line in found if not WRAPPER.match(line)]
    return causes or found


def _last_words(lines: list[str]) -> str:
    """The last line that is not a log4j record below ERROR (a step that died without an error line)."""
    level = None
    words = []
    for raw in lines:
        line = raw.strip()
        header = RECORD.match(line)
        if header:
            level = header.group(1)
            if level not in NOISE_LEVELS:
                words.append(line)
            continue
        if line and level not in NOISE_LEVELS:
            words.append(line)
    return words[-1] if words else ""


def failure_reason(log_dir: Path) -> str:
    """Why the step in `log_dir` failed, in one line: the first real error line of stderr, else of stdout,
    else the last line either printed that is not log noise ("" when the step printed nothing)."""
    err, out = _lines(log_dir / "stderr"), _lines(log_dir / "stdout")
    for lines in (err, out):
        errors = _errors(lines)
        if errors:
            return errors[0][:LIMIT]
    for lines in (err, out):
        words = _last_words(lines)
        if words:
            return words[:LIMIT]
    return ""


def compress(log_dir: Path) -> None:
    """EMR keeps step logs gzipped: stdout.gz, stderr.gz, controller.gz."""
    for name in NAMES:
        plain = log_dir / name
        if plain.exists():
            with open(plain, "rb") as src, gzip.open(log_dir / f"{name}.gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            plain.unlink()


def tail_log(path: Path, lines: int = 40) -> str:
    """The end of a step log, plain or gzipped (what a notebook shows)."""
    gz = path if path.suffix == ".gz" else path.with_name(path.name + ".gz")
    if gz.exists():
        text = gzip.decompress(gz.read_bytes()).decode(errors="replace")
    elif path.exists():
        text = path.read_text(errors="replace")
    else:
        return ""
    return "\n".join(text.splitlines()[-lines:])
