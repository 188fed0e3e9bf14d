"""Waiting for AWS with botocore's own waiters, many resources at once, one progress bar, and a clock.

`wait_all` never raises for a resource: it returns what did not get there (failed, or still waiting when the
time was up), so that the teardown can go on to the next resource and provisioning can say what to do.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from labkit.aws.session import Account
from labkit.progress import tqdm


@dataclass(frozen=True)
class Wait:
    label: str                     # what the learner reads
    client: str                    # boto3 client name
    waiter: str                    # botocore waiter name (its acceptors decide success and failure)
    kwargs: dict = field(default_factory=dict)
    also_done: tuple[str, ...] = ()  # states a failure acceptor stops on that count as done here (see teardown)


def _state(response: dict) -> str:
    """The state a waiter's last response reports (EMR cluster, RDS instance or cluster)."""
    if "Cluster" in response:
        return response["Cluster"].get("Status", {}).get("State", "")
    for key, state in (("DBInstances", "DBInstanceStatus"), ("DBClusters", "Status")):
        if response.get(key):
            return response[key][0].get(state, "")
    return ""


def wait_all(acct: Account, waits: list[Wait], *, progress: bool = True, timeout: float = 45 * 60,
             delay: float = 15, desc: str = "waiting for AWS") -> dict[str, str]:
    """Poll every wait once per `delay` seconds until each is done, failed, or `timeout` seconds have passed.

    Returns {label: why} for each wait that did not succeed (empty when all did).
    """
    from botocore.exceptions import BotoCoreError, WaiterError

    pending, problems, start, trouble = list(waits), {}, time.monotonic(), {}
    with tqdm(total=len(waits), desc=desc, unit="resource", disable=not progress or not waits) as bar:
        while pending:
            for item in list(pending):
                try:
                    acct.client(item.client).get_waiter(item.waiter).wait(
                        **item.kwargs, WaiterConfig={"Delay": 1, "MaxAttempts": 1})
                except WaiterError as exc:
                    if "Max attempts exceeded" in str(exc):
                        continue                                   # not there yet: ask again next round
                    state = _state(exc.last_response or {})
                    if state not in item.also_done:
                        problems[item.label] = f"{state or 'failed'}: {exc.kwargs.get('reason', exc)}"
                except BotoCoreError as exc:                       # the network, not the resource: ask again
                    trouble[item.label] = f"{type(exc).__name__}: {exc}"
                    continue
                pending.remove(item)
                bar.update(1)
            if not pending:
                break
            elapsed = time.monotonic() - start
            if elapsed > timeout:
                for item in pending:
                    last = f"; last error {trouble[item.label]}" if item.label in trouble else ""
                    problems[item.label] = f"still not done after {elapsed / 60:.1f} min (timeout{last})"
                break
            bar.set_postfix_str(f"{', '.join(p.label for p in pending)} ({elapsed / 60:.0f} min)")
            time.sleep(delay)
    return problems
