"""How the local EMR endpoint runs a step: `command-runner.jar` arguments -> a local command line.

`spark-submit ...` runs the lab's own pyspark with `--master local[N]`: the cluster's `--master` and
`--deploy-mode` are dropped (a local "cluster" is this machine), `s3://` scripts and `--jars/--py-files/
--files` are resolved to the local bucket folders, and the Spark job itself gets the ViewFs settings so its
own s3:// inputs and outputs work unchanged. Any other command-runner command (`bash -c ...`) runs as is.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from labkit.config import LOOPBACK
from labkit.emr import bucket
from labkit.errors import LabError

COMMAND_RUNNER = "command-runner.jar"
SCRIPT_RUNNER = "script-runner.jar"
# spark-submit options that take no value; every other --option takes one ("--opt value" or "--opt=value")
FLAGS = {"--verbose", "-v", "--supervise", "--help", "-h", "--version"}
PATH_LISTS = {"--jars", "--py-files", "--files", "--archives"}
DROPPED = {"--master", "--deploy-mode"}


class StepError(Exception):
    """A step that cannot even start (unknown jar, missing script): the step fails with this message."""


def venv_bin() -> Path:
    return Path(sys.executable).parent


def _resolve(uri: str, s3_dir: Path) -> str:
    if not bucket.is_s3(uri):
        return uri
    try:
        path = bucket.local_path(s3_dir, uri)
    except LabError as exc:
        raise StepError(str(exc)) from None
    if not path.exists():
        raise StepError(f"{uri} does not exist (local bucket file {path}); upload it before adding the step")
    return str(path)


def spark_submit(args: list[str], *, s3_dir: Path, cores: int, defaults: dict[str, str] | None = None) -> list[str]:
    """The local spark-submit command line for EMR-style spark-submit arguments (without the program).

    `defaults` are the cluster's own Spark settings (what EMR's spark-defaults classification holds): they
    come first, so the step's own --conf / --driver-java-options win.
    """
    options: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-"):
            break                                   # the application (script or jar): the rest are its arguments
        if arg in FLAGS:
            options.append(arg)
            i += 1
            continue
        name, eq, value = arg.partition("=")
        if not eq:
            if i + 1 >= len(args):
                raise StepError(f"spark-submit option {arg} needs a value")
            value = args[i + 1]
            i += 2
        else:
            i += 1
        if name in DROPPED:
            continue
        if name in PATH_LISTS:
            value = ",".join(_resolve(v, s3_dir) for v in value.split(",") if v)
        options += [name, value]
    if i >= len(args):
        raise StepError("spark-submit needs an application (a .py script or a jar) after its options")
    application, app_args = _resolve(args[i], s3_dir), args[i + 1:]
    lab_conf = {
        **(defaults or {}),
        "spark.ui.enabled": "false",                 # no web UI ports: several labs share this machine
        "spark.driver.host": LOOPBACK,
        "spark.driver.bindAddress": LOOPBACK,
        **bucket.spark_conf(s3_dir),
    }
    conf_args = [a for key, value in lab_conf.items() for a in ("--conf", f"{key}={value}")]
    return [str(venv_bin() / "spark-submit"), "--master", f"local[{cores}]", *conf_args, *options,
            application, *app_args]


def local_command(step_config: dict, *, s3_dir: Path, cores: int,
                  defaults: dict[str, str] | None = None) -> list[str]:
    """The command that runs this step's HadoopJarStep here; StepError when it cannot run locally."""
    jar = step_config.get("Jar", "")
    args = list(step_config.get("Args") or [])
    name = jar.rsplit("/", 1)[-1]
    if name == COMMAND_RUNNER:
        if not args:
            raise StepError("command-runner.jar needs a command in Args (e.g. spark-submit ...)")
        program = args[0].rsplit("/", 1)[-1]
        if program == "spark-submit":
            return spark_submit(args[1:], s3_dir=s3_dir, cores=cores, defaults=defaults)
        found = shutil.which(args[0], path=f"{venv_bin()}{os.pathsep}{os.environ.get('PATH', '')}")
        if not found:
            raise StepError(f"command-runner.jar: command {args[0]!r} not found on this machine")
        return [found, *args[1:]]
    if name == SCRIPT_RUNNER:
        if not args:
            raise StepError("script-runner.jar needs the script's s3:// URI as its first argument")
        script = _resolve(args[0], s3_dir)
        return ["/bin/bash", script, *args[1:]] if not os.access(script, os.X_OK) else [script, *args[1:]]
    raise StepError(f"the local EMR endpoint runs command-runner.jar and script-runner.jar steps only, not {jar!r}")


def step_env() -> dict[str, str]:
    """The environment of a step: the lab's Python for PySpark, loopback-only Spark (the endpoint's signing key
    is never in its environment: it reads it from a file)."""
    env = dict(os.environ)
    env.update({
        "PATH": f"{venv_bin()}{os.pathsep}{env.get('PATH', '')}",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": LOOPBACK,
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("SPARK_HOME", None)   # the venv's pyspark finds its own home
    return env
