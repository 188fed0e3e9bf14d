"""`labkit up|down|status|doctor|logs|env|run|prepare|jupyter|workspace|check|sqoop`: the lab from a terminal (the notebooks call the same functions)."""
from __future__ import annotations

import argparse
import json
import sys
import time

from labkit import config, doctor, exercises, java, jupyter, prepare, procs, runner, services, workspace
from labkit.errors import LabError
from labkit.services.airflow import airflow_env
from labkit.workshop import sqoop


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB" if n else "-"


def format_status(rows) -> str:
    lines = [f"{'service':<10} {'health':<10} {'address':<26} {'pid':>7} {'memory':>10}  version"]
    for r in rows:
        health = "healthy" if r.healthy else ("stopped" if r.pid is None else "UNHEALTHY")
        lines.append(f"{r.name:<10} {health:<10} {r.address:<26} {r.pid or '-':>7} {_mb(r.memory_bytes):>10}  {r.version}")
    total = sum(r.memory_bytes for r in rows)
    lines.append(f"{'total':<10} {'':<10} {'':<26} {'':>7} {_mb(total):>10}")
    return "\n".join(lines)


def cmd_up(cfg, args) -> int:
    rows = services.up(cfg, only=args.services)
    print(format_status(rows))
    if any(r.name == "airflow" for r in rows):
        print(f"\nAirflow UI: {services.get(cfg, 'airflow').address}  (user admin, password in "
              f"{cfg.secrets_dir / 'airflow_admin'})")
    return 0 if all(r.healthy for r in rows) else 1


def cmd_down(cfg, args) -> int:
    if args.purge and not args.yes:
        if not sys.stdin.isatty():
            raise LabError("--purge deletes every database and file of the lab; add --yes to confirm")
        answer = input(f"Delete {cfg.state_dir} and everything in it? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    services.down(cfg, purge=args.purge)
    return 0


def cmd_status(cfg, args) -> int:
    rows = services.status(cfg)
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        print(format_status(rows))
    return 0 if all(r.healthy for r in rows) else 1


def cmd_doctor(cfg, args) -> int:
    problems = doctor.check(cfg)
    for p in problems:
        print(f"problem: {p}")
    if not problems:
        print(f"ready: Java {java.java_version()}, profile {cfg.profile}, scale {cfg.scale}, state {cfg.state_dir}")
    return 1 if problems else 0


def cmd_logs(cfg, args) -> int:
    service = services.get(cfg, args.service)
    if not service.log_file.exists():
        raise LabError(f"no log yet for {service.name} ({service.log_file}); start it with `labkit up`")
    print(procs.tail(service.log_file, args.lines))
    if args.follow:
        with open(service.log_file) as fh:
            fh.seek(0, 2)
            while True:
                line = fh.readline()
                if line:
                    print(line, end="")
                else:
                    time.sleep(0.5)
    return 0


def cmd_env(cfg, args) -> int:
    """Shell exports so that `airflow ...` in a terminal talks to this lab."""
    env = airflow_env(cfg)
    for key in ("AIRFLOW_HOME", "AIRFLOW_CONFIG", "LAB_ROOT", "LAB_PROFILE", "LAB_SCALE", "LAB_STATE_DIR",
                "SPARK_LOCAL_IP"):
        print(f"export {key}={env[key]}")
    return 0


def cmd_run(cfg, args) -> int:
    return runner.main(cfg, only=args.notebooks, output=args.output, store=args.store_expected)


def cmd_prepare(cfg, args) -> int:
    prepare.prepare(cfg, args.notebook)
    return 0


def cmd_jupyter(cfg, args) -> int:
    jupyter.run(cfg, args.port)
    return 0


def cmd_workspace(cfg, args) -> int:
    """Where the learner's DAGs and saved notebooks are; `reset` moves them aside (to .trash/) for a fresh start."""
    if args.action == "reset":
        aside = workspace.reset(cfg, notebooks=args.notebook)
        if args.notebook:
            print((f"your copy is in {aside / 'notebooks'}" if aside else "you had no saved copy of it")
                  + "; JupyterLab opens the tutorial's notebook again (File > Reload Notebook from Disk in its tab)")
            return 0
        print(f"your DAG folder {cfg.workspace_dags_dir} is empty again"
              + (f"; your files are in {aside}" if aside else " (it held no DAG file)")
              + "; your saved notebooks stay (`labkit workspace reset --notebook NN|all` starts one afresh)")
        return 0
    workspace.ensure(cfg)
    print(f"{cfg.workspace_dags_dir}  (Airflow's DAG bundle '{workspace.BUNDLE}')")
    for path in workspace.learner_files(cfg):
        print(f"  {path.name}")
    copies = workspace.notebook_copies(cfg)
    if copies:
        print(f"{workspace.notebook_copies_dir(cfg)}  (your saved notebooks: JupyterLab opens them as notebooks/...)")
        for path in copies:
            print(f"  {path.name}")
    return 0


def cmd_check(cfg, args) -> int:
    result = exercises.check(args.exercise, cfg)
    print(result)
    return 0 if result.passed else 1


def cmd_sqoop(cfg, args) -> int:
    return sqoop.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("up", help="start the lab's services (reuses healthy ones)")
    p.add_argument("services", nargs="*", help="only these (default: all)")
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("down", help="stop every service (data is kept)")
    p.add_argument("--purge", action="store_true", help="also delete the state folder: every database and file")
    p.add_argument("--yes", action="store_true", help="confirm --purge without asking")
    p.set_defaults(func=cmd_down)
    p = sub.add_parser("status", help="one line per service; exit 1 when any is not healthy")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("doctor", help="check Java, servers, ports, disk and packages")
    p.set_defaults(func=cmd_doctor)
    p = sub.add_parser("logs", help="the end of a service's log")
    p.add_argument("service")
    p.add_argument("-n", "--lines", type=int, default=40)
    p.add_argument("-f", "--follow", action="store_true")
    p.set_defaults(func=cmd_logs)
    p = sub.add_parser("env", help="print shell exports for using the `airflow` CLI against this lab")
    p.set_defaults(func=cmd_env)
    p = sub.add_parser("run", help="execute the notebook series with papermill and print a summary")
    p.add_argument("notebooks", nargs="*", help="only notebooks whose name starts with these (e.g. 00 01)")
    p.add_argument("--output", default=None, help="folder for executed notebooks and summary (default: output/)")
    p.add_argument("--store-expected", action="store_true",
                   help="after a green smoke run, save what the `# NBVAL_CHECK_OUTPUT` cells printed into notebooks/")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("prepare", help="bring the lab to the state notebook NN starts from (to open it live)")
    p.add_argument("notebook", help="its two digits, e.g. 07")
    p.set_defaults(func=cmd_prepare)
    p = sub.add_parser("jupyter", help="JupyterLab on the project, on 127.0.0.1 (what `make lab` runs); your saves of "
                                       "the notebooks go to your workspace")
    p.add_argument("--port", type=int, default=jupyter.DEFAULT_PORT, help=f"default {jupyter.DEFAULT_PORT}")
    p.set_defaults(func=cmd_jupyter)
    p = sub.add_parser("workspace", help="your own DAG folder (notebooks 07-08) and saved notebooks; `reset` starts "
                                         "them afresh")
    p.add_argument("action", nargs="?", choices=["show", "reset"], default="show")
    p.add_argument("--notebook", action="append", metavar="NN",
                   help="reset your saved copy of this notebook instead of your DAG files (two digits, its name, or "
                        "`all`; repeatable)")
    p.set_defaults(func=cmd_workspace)
    p = sub.add_parser("check", help="check an exercise (e.g. `labkit check 07.1`): pass, or what is missing")
    p.add_argument("exercise")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("sqoop", help="`labkit sqoop import --connect ...`: a Sqoop-shaped import from PostgreSQL")
    sqoop.add_arguments(p)
    p.set_defaults(func=cmd_sqoop)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = config.load()
        return args.func(cfg, args)
    except LabError as exc:
        print(f"labkit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
