"""The local EMR endpoint's HTTP face: EMR's JSON 1.1 protocol on 127.0.0.1.

boto3 (and so Airflow's Amazon provider) sends `POST /` with `X-Amz-Target: ElasticMapReduce.<Action>`,
`Content-Type: application/x-amz-json-1.1`, a JSON body and a SigV4 `Authorization` header; the region
is taken from its credential scope. Errors are HTTP 400 with `{"__type": "<EMR error code>", "Message":
"..."}`, which botocore turns into `ClientError`.

A step runs any command it is given, so the endpoint checks the SigV4 signature (`sigv4`: botocore's own
signer, and a request more than 15 minutes old is refused as AWS does) against the lab's generated key pair
(the `aws_default` connection's login and password: `--access-key` and `--secret-key-file`, a private file
of the lab's secrets folder, read once at start; the secret is never on the command line or in the process's
environment, so neither `ps` nor `/proc/<pid>/environ` nor a step shows it): other accounts on the machine
cannot use it to run commands as the lab's user. Without them (a standalone endpoint in a test) any
signature is accepted.

    python -m labkit.emr.server --state-dir .lab --port 18500 [--cores 2] [--transition-seconds 1]
                                [--access-key ID --secret-key-file PATH]
"""
from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from labkit.config import LOOPBACK
from labkit.emr import api, sigv4
from labkit.emr.engine import Engine
from labkit.emr.records import ApiError

TARGET_PREFIX = "ElasticMapReduce."
REGION = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")


def make_handler(engine: Engine, default_region: str, keys: dict[str, str] | None = None):
    class Handler(BaseHTTPRequestHandler):
        server_version = "labkit-emr/1"
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", "labkit-local")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:   # noqa: N802 - the health check of `labkit status`
            with engine.lock:
                states = [c["Status"]["State"] for c in engine.clusters.values()]
            self._send(200, {"service": "labkit local EMR endpoint", "clusters": len(states),
                             "alive": sum(s not in ("TERMINATED", "TERMINATED_WITH_ERRORS") for s in states)})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            target = self.headers.get("X-Amz-Target", "")
            if not target.startswith(TARGET_PREFIX):
                self._send(400, {"__type": "UnknownOperationException",
                                 "Message": f"X-Amz-Target {target!r} is not an ElasticMapReduce action"})
                return
            action = target[len(TARGET_PREFIX):]
            if keys is not None and (denied := sigv4.check("POST", self.path, self.headers, raw, keys)):
                self._send(403, {"__type": denied.code, "Message": denied.message})
                return
            try:
                request = json.loads(raw or b"{}")
            except ValueError:
                self._send(400, {"__type": "SerializationException", "Message": "the body is not valid JSON"})
                return
            match = REGION.search(self.headers.get("Authorization", ""))
            region = match.group(1) if match else default_region
            try:
                self._send(200, api.dispatch(engine, action, region, request))
            except ApiError as exc:
                self._send(400, {"__type": exc.code, "Message": exc.message})
            except Exception as exc:  # noqa: BLE001 - a bug must answer 500, not hang the client
                self._send(500, {"__type": "InternalServerError", "Message": f"{type(exc).__name__}: {exc}"})
                raise

        def log_message(self, fmt: str, *args) -> None:
            target = self.headers.get("X-Amz-Target", "") if hasattr(self, "headers") and self.headers else ""
            sys.stderr.write(f"{self.log_date_time_string()} {target or '-'} {fmt % args}\n")

    return Handler


def serve(state_dir: Path, port: int, *, cores: int = 2, transition_seconds: float = 1.0,
          idle_timeout_factor: float = 1.0, region: str = "us-east-1",
          spark_defaults: dict[str, str] | None = None, keys: dict[str, str] | None = None) -> int:
    engine = Engine(state_dir, cores=cores, transition_seconds=transition_seconds,
                    idle_timeout_factor=idle_timeout_factor, spark_defaults=spark_defaults)
    httpd = ThreadingHTTPServer((LOOPBACK, port), make_handler(engine, region, keys))
    httpd.daemon_threads = True
    stop = threading.Event()
    ticker = threading.Thread(target=engine.run_ticker, args=(stop,), daemon=True)
    ticker.start()

    def on_signal(signum, _frame):
        stop.set()
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"emr: local EMR endpoint on http://{LOOPBACK}:{port} (state {engine.file}, local[{cores}], "
          f"{'SigV4 checked' if keys else 'any signature accepted'})", flush=True)
    try:
        httpd.serve_forever(poll_interval=0.25)
    finally:
        stop.set()
        engine.shutdown()         # before the ticker ends: its steps get SIGHUP (steprun) when the thread is gone
        ticker.join(timeout=5)
        httpd.server_close()
        print("emr: stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", required=True, type=Path, help="the lab's state folder (holds emr/ and s3/)")
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--cores", type=int, default=2, help="spark-submit --master local[N]")
    parser.add_argument("--transition-seconds", type=float, default=1.0,
                        help="how long STARTING, BOOTSTRAPPING and TERMINATING last")
    parser.add_argument("--idle-timeout-factor", type=float, default=1.0,
                        help="multiplies AutoTerminationPolicy.IdleTimeout (tests use a small factor)")
    parser.add_argument("--region", default="us-east-1", help="when a request carries no SigV4 region")
    parser.add_argument("--access-key", help="the access key id that requests must be signed with (not a secret)")
    parser.add_argument("--secret-key-file", type=Path,
                        help="a private file holding that key's secret (never the secret itself on a command line)")
    parser.add_argument("--spark-default", action="append", default=[], metavar="KEY=VALUE", type=spark_default,
                        help="a Spark setting of the local cluster, given to every spark-submit step (as EMR's "
                             "spark-defaults classification); write --spark-default=KEY=VALUE when VALUE starts with -")
    args = parser.parse_args(argv)
    if bool(args.access_key) != bool(args.secret_key_file):
        parser.error("--access-key and --secret-key-file go together (or neither: any signature is accepted)")
    keys = None
    if args.access_key:
        try:
            keys = {args.access_key: args.secret_key_file.read_text().strip()}
        except OSError as exc:
            parser.error(f"--secret-key-file {args.secret_key_file}: {exc.strerror}")
        if not keys[args.access_key]:
            parser.error(f"--secret-key-file {args.secret_key_file} is empty")
    return serve(args.state_dir, args.port, cores=args.cores, transition_seconds=args.transition_seconds,
                 idle_timeout_factor=args.idle_timeout_factor, region=args.region,
                 spark_defaults=dict(args.spark_default), keys=keys)


def spark_default(text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or not key.startswith("spark."):
        raise argparse.ArgumentTypeError(f"{text!r}: expected spark.<name>=<value>")
    return key, value


if __name__ == "__main__":
    sys.exit(main())
