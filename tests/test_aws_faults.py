"""What a real account does to a teardown or a provisioning run, and what labkit must do then, on the moto server.

AWS behaviour comes from botocore (its waiters, its error parsing) and moto's server; what moto cannot produce
(a cluster ending TERMINATED_WITH_ERRORS, a DB instance another teardown is already deleting, a security group
whose network interfaces linger, an AWS error halfway through provisioning, a secret whose deletion is still
completing) is injected into the server's backend; the client side stays real.
"""
import json
import threading

import pytest
from aws_server import ALL_KINDS, FAST, aws_env, aws_lab, cfg, kinds, provision  # noqa: F401  (fixtures)
from botocore.exceptions import WaiterError

from labkit import LabError, aws
from labkit.aws import outputs, spec
from labkit.aws.inventory import table


def _cluster(moto_server) -> str:
    """A tagged cluster as the EMR DAG would leave it (kept alive, no steps)."""
    return moto_server.client("emr").run_job_flow(
        Name="left-behind", ReleaseLabel=spec.EMR_RELEASE_LABEL, Tags=spec.TAGS, JobFlowRole=spec.EMR_EC2_ROLE,
        ServiceRole=spec.EMR_SERVICE_ROLE, Instances={"KeepJobFlowAliveWhenNoSteps": True, "InstanceGroups": [
            {"InstanceRole": "MASTER", "InstanceType": spec.EMR_INSTANCE_TYPE, "InstanceCount": 1}]})["JobFlowId"]


def _failed(result) -> dict:
    return {(r.kind, r.name): why for r, why in result.failed}


# -- teardown: it always goes on to the next resource ------------------------------------------------------
def test_a_cluster_ending_terminated_with_errors_does_not_stop_the_teardown(cfg, moto_server, monkeypatch, capsys):
    from moto.emr.models import Cluster

    provision(cfg, confirm=True)
    cid = _cluster(moto_server)

    def terminate_with_errors(self):
        self.state, self.last_state_change_reason = "TERMINATED_WITH_ERRORS", "Bootstrap failure (injected)"

    monkeypatch.setattr(Cluster, "terminate", terminate_with_errors)
    result = aws.teardown(cfg, **FAST)

    assert result.failed == [] and result.left == []
    assert kinds(result.table()) == {**ALL_KINDS, "EMR cluster": 1}      # both databases went too
    assert aws.inventory(cfg).empty
    assert "deleted EMR cluster left-behind (TERMINATED_WITH_ERRORS: Bootstrap failure (injected))" in capsys.readouterr().out
    # The state really is one botocore's ClusterTerminated waiter calls a failure (what stopped the old teardown).
    with pytest.raises(WaiterError, match="terminal failure"):
        moto_server.client("emr").get_waiter("cluster_terminated").wait(
            ClusterId=cid, WaiterConfig={"Delay": 1, "MaxAttempts": 1})


class _Airflow:
    """The lab's Airflow as the teardown sees it (services.get(cfg, "airflow")): running, three DAGs, one paused."""

    def __init__(self, events: list):
        self.events = events

    def pid(self):
        return 4242

    def api(self):
        events = self.events

        class Api:
            def get(self, path, **params):
                assert path == "dags"
                return {"dags": [{"dag_id": "emr_ephemeral_job", "is_paused": False},
                                 {"dag_id": "airflow_workshop_job", "is_paused": False},
                                 {"dag_id": "exercise", "is_paused": True}]}

            def pause(self, dag_id):
                events.append(f"pause {dag_id}")

        return Api()

    def stop(self):
        self.events.append("stop airflow")
        return True


def _record(monkeypatch, events: list) -> None:
    """Record, in the moto server, when a cluster is terminated and when a role is deleted."""
    from moto.emr.models import Cluster
    from moto.iam.models import IAMBackend

    terminate, delete_role = Cluster.terminate, IAMBackend.delete_role

    def terminating(self):
        events.append(f"terminate {self.id}")
        return terminate(self)

    def deleting(self, role_name):
        events.append(f"delete role {role_name}")
        return delete_role(self, role_name)

    monkeypatch.setattr(Cluster, "terminate", terminating)
    monkeypatch.setattr(IAMBackend, "delete_role", deleting)


def test_the_teardown_pauses_the_dags_and_stops_airflow_before_it_terminates_anything(cfg, moto_server, monkeypatch,
                                                                                      capsys):
    """A DAG run the lab's Airflow starts during the teardown would make a cluster after the list was taken."""
    from labkit import services

    provision(cfg, confirm=True)
    cid = _cluster(moto_server)
    events: list[str] = []
    _record(monkeypatch, events)
    real_get = services.get
    monkeypatch.setattr(services, "get", lambda c, name: _Airflow(events) if name == "airflow" else real_get(c, name))

    result = aws.teardown(cfg, **FAST)

    assert result.failed == [] and result.left == []
    assert events[:4] == ["pause emr_ephemeral_job", "pause airflow_workshop_job", "stop airflow", f"terminate {cid}"]
    printed = capsys.readouterr().out
    assert "paused the lab's DAGs (emr_ephemeral_job, airflow_workshop_job)" in printed
    assert "stopped the lab's Airflow" in printed


def test_a_cluster_started_during_the_teardown_is_terminated_before_the_roles_and_groups_go(cfg, moto_server,
                                                                                          monkeypatch, capsys):
    """The databases take 10-20 minutes to delete; a cluster started meanwhile (an Airflow elsewhere, a learner by
    hand) runs on the lab's roles and security groups: it is found by a second listing and terminated first."""
    from labkit.aws.teardown import _Teardown

    provision(cfg, confirm=True)
    events: list[str] = []
    _record(monkeypatch, events)
    late = []
    databases = _Teardown.databases

    def databases_then_a_new_cluster(self):
        databases(self)
        late.append(_cluster(moto_server))

    monkeypatch.setattr(_Teardown, "databases", databases_then_a_new_cluster)
    result = aws.teardown(cfg, **FAST)

    assert result.failed == [] and result.left == []
    [cid] = late
    assert moto_server.client("emr").describe_cluster(ClusterId=cid)["Cluster"]["Status"]["State"] == "TERMINATED"
    first_role = next(i for i, e in enumerate(events) if e.startswith("delete role"))
    assert events.index(f"terminate {cid}") < first_role
    assert f"1 EMR cluster(s) started during the teardown: {cid}" in capsys.readouterr().out
    assert kinds(result.table()) == {**ALL_KINDS, "EMR cluster": 1}


def test_an_rds_instance_that_refuses_deletion_is_listed_and_the_rest_goes(cfg, moto_server, capsys):
    provision(cfg, confirm=True)
    rds = moto_server.client("rds")
    rds.modify_db_instance(DBInstanceIdentifier=spec.POSTGRES.identifier, DeletionProtection=True,
                           ApplyImmediately=True)

    result = aws.teardown(cfg, **FAST)

    failed = _failed(result)
    assert list(failed) == [("DB instance", spec.POSTGRES.identifier)]
    assert "InvalidParameterCombination" in failed[("DB instance", spec.POSTGRES.identifier)]
    assert [(r.kind, r.name) for r in result.left] == [("DB instance", spec.POSTGRES.identifier)]
    assert kinds(result.table()) == {**ALL_KINDS, "DB instance": 1}     # Aurora, bucket, IAM, groups: gone
    printed = capsys.readouterr().out
    assert f"could not delete DB instance {spec.POSTGRES.identifier}: InvalidParameterCombination" in printed
    assert outputs.path(cfg).exists()                                    # kept while something is left

    rds.modify_db_instance(DBInstanceIdentifier=spec.POSTGRES.identifier, DeletionProtection=False,
                           ApplyImmediately=True)
    again = aws.teardown(cfg, **FAST)
    assert again.failed == [] and again.left == [] and not outputs.path(cfg).exists()


@pytest.mark.parametrize("gone_before_asked", [False, True])
def test_an_instance_already_being_deleted_is_not_a_failure(cfg, moto_server, monkeypatch, gone_before_asked):
    """Another teardown (or the console) got there first: AWS answers InvalidDBInstanceState, status deleting; or
    the instance is gone by the time the teardown asks for its status (a race seen on a loaded machine)."""
    from moto.rds.exceptions import InvalidDBInstanceStateFault
    from moto.rds.models import RDSBackend

    provision(cfg, confirm=True)
    original = RDSBackend.delete_db_instance

    def already_deleting(self, db_instance_identifier, *args, **kwargs):
        if db_instance_identifier != spec.POSTGRES.identifier:
            return original(self, db_instance_identifier, *args, **kwargs)
        self.databases[db_instance_identifier].status = "deleting"
        if gone_before_asked:
            original(self, db_instance_identifier, *args, **kwargs)
        else:
            threading.Timer(0.3, original, (self, db_instance_identifier, *args), kwargs).start()
        raise InvalidDBInstanceStateFault(f"Instance {db_instance_identifier} is already being deleted.")

    monkeypatch.setattr(RDSBackend, "delete_db_instance", already_deleting)
    result = aws.teardown(cfg, **FAST)
    assert result.failed == [] and result.left == []
    assert ("DB instance", spec.POSTGRES.identifier) in {(r.kind, r.name) for r in result.deleted}


def test_a_wait_that_times_out_is_reported_and_the_rest_is_deleted(cfg, moto_server, monkeypatch):
    from moto.emr.models import Cluster

    provision(cfg, confirm=True)
    _cluster(moto_server)
    monkeypatch.setattr(Cluster, "terminate", lambda self: setattr(self, "state", "TERMINATING"))   # never ends

    result = aws.teardown(cfg, progress=False, delay=0.05, timeout=0.5)

    failed = _failed(result)
    assert [k for k, _ in failed] == ["EMR cluster"]
    assert "timeout" in next(iter(failed.values()))
    assert [r.kind for r in result.left] == ["EMR cluster"]
    assert kinds(result.table()) == ALL_KINDS                          # everything else went


def test_a_security_group_still_in_use_is_retried_until_it_is_free(cfg, moto_server, monkeypatch):
    from moto.ec2.exceptions import DependencyViolationError
    from moto.ec2.models.security_groups import SecurityGroupBackend

    provision(cfg, confirm=True)
    db_group = json.loads(outputs.path(cfg).read_text())["db_security_group"]
    original, refusals = SecurityGroupBackend.delete_security_group, []

    def in_use_three_times(self, name=None, group_id=None):
        if group_id == db_group and len(refusals) < 3:          # the RDS network interfaces are still going
            refusals.append(group_id)
            raise DependencyViolationError(f"resource {group_id} has a dependent object")
        return original(self, name=name, group_id=group_id)

    monkeypatch.setattr(SecurityGroupBackend, "delete_security_group", in_use_three_times)
    result = aws.teardown(cfg, progress=False, delay=0.05, timeout=60)
    assert len(refusals) == 3
    assert result.failed == [] and result.left == []
    assert kinds(result.table()) == ALL_KINDS


def test_a_security_group_that_stays_in_use_is_listed_with_why(cfg, moto_server, monkeypatch):
    from moto.ec2.exceptions import DependencyViolationError
    from moto.ec2.models.security_groups import SecurityGroupBackend

    provision(cfg, confirm=True)
    db_group = json.loads(outputs.path(cfg).read_text())["db_security_group"]
    original = SecurityGroupBackend.delete_security_group

    def always_in_use(self, name=None, group_id=None):
        if group_id == db_group:
            raise DependencyViolationError(f"resource {group_id} has a dependent object")
        return original(self, name=name, group_id=group_id)

    monkeypatch.setattr(SecurityGroupBackend, "delete_security_group", always_in_use)
    result = aws.teardown(cfg, progress=False, delay=0.05, timeout=0.3)
    failed = _failed(result)
    assert list(failed) == [("security group", spec.SG_DB)]
    assert "DependencyViolation" in failed[("security group", spec.SG_DB)]
    assert "run the teardown again" in failed[("security group", spec.SG_DB)]
    assert [(r.kind, r.name) for r in result.left] == [("security group", spec.SG_DB)]


def test_teardown_dry_run_lists_everything_and_deletes_nothing(cfg, moto_server, capsys):
    provision(cfg, confirm=True)
    _cluster(moto_server)
    before = aws.inventory(cfg)
    result = aws.teardown(cfg, dry_run=True, **FAST)
    assert result.dry_run and result.deleted == [] and result.failed == []
    assert kinds(before) == kinds(table(result.left)) == {**ALL_KINDS, "EMR cluster": 1}
    printed = capsys.readouterr().out
    assert f"Dry run: {len(before)} resource(s) tagged lab=airflow-lab" in printed
    assert spec.POSTGRES.identifier in printed and spec.AURORA.identifier in printed
    assert kinds(aws.inventory(cfg)) == kinds(before)                  # nothing was deleted
    assert outputs.path(cfg).exists()


# -- provisioning: right after a teardown, and after a run that stopped halfway ------------------------------
def _schedule_deletion(moto_server, name: str) -> None:
    """A tagged secret of this name, in the state AWS shows while a deletion completes."""
    sm = moto_server.client("secretsmanager")
    sm.create_secret(Name=name, SecretString="{}", Tags=spec.TAGS)
    sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)


def test_provision_right_after_teardown_waits_for_the_secrets_deletion(cfg, moto_server):
    provision(cfg, confirm=True)
    aws.teardown(cfg, **FAST)
    # moto keeps the deleted cluster's automated snapshot (AWS drops it: DeleteAutomatedBackups=True), and its
    # per-minute name would collide with the new cluster's: remove that emulator leftover.
    rds = moto_server.client("rds")
    for snap in rds.describe_db_cluster_snapshots(SnapshotType="automated")["DBClusterSnapshots"]:
        rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=snap["DBClusterSnapshotIdentifier"])
    names = [name for db in spec.DATABASES for _, name in db.logins()]
    for name in names:                          # Secrets Manager has not finished deleting them yet...
        _schedule_deletion(moto_server, name)
    sm = moto_server.client("secretsmanager")
    finish = [threading.Timer(0.3, sm.delete_secret, kwargs={"SecretId": name, "ForceDeleteWithoutRecovery": True})
              for name in names]              # ...and does a moment later
    for timer in finish:
        timer.start()

    result = provision(cfg, confirm=True)

    assert {a.name: a.action for a in result.actions if a.resource == "secret"} == {
        name: "created" for name in names}
    assert kinds(aws.inventory(cfg)) == ALL_KINDS
    value = json.loads(sm.get_secret_value(SecretId=spec.POSTGRES.secret)["SecretString"])
    assert value["host"] and len(value["password"]) >= 32


def test_a_secret_that_never_finishes_deleting_gives_one_clear_line(cfg, moto_server):
    _schedule_deletion(moto_server, spec.POSTGRES.secret)
    with pytest.raises(LabError) as err:
        provision(cfg, confirm=True, delay=0.05, timeout=0.5)
    text = str(err.value)
    assert f"secret {spec.POSTGRES.secret} is still scheduled for deletion" in text
    assert "run provisioning again in a few minutes" in text and "restore-secret" in text
    assert "\n" not in text


def test_a_provisioning_run_that_fails_halfway_finishes_when_run_again(cfg, moto_server, monkeypatch):
    from moto.rds.exceptions import RDSClientError
    from moto.rds.models import RDSBackend

    original = RDSBackend.create_db_cluster

    def no_capacity(self, *args, **kwargs):
        raise RDSClientError("InsufficientDBClusterCapacityFault", "Not enough capacity (injected)")

    monkeypatch.setattr(RDSBackend, "create_db_cluster", no_capacity)
    with pytest.raises(LabError) as err:
        provision(cfg, confirm=True)
    text = str(err.value)
    assert f"provisioning stopped at {spec.AURORA.identifier} (InsufficientDBClusterCapacityFault" in text
    assert "run provisioning again to continue" in text and "\n" not in text
    halfway = kinds(aws.inventory(cfg))
    assert halfway["DB instance"] == 1 and "DB cluster" not in halfway       # PostgreSQL was made, Aurora not
    assert not outputs.path(cfg).exists()
    sm = moto_server.client("secretsmanager")
    password = json.loads(sm.get_secret_value(SecretId=spec.POSTGRES.secret)["SecretString"])["password"]

    monkeypatch.setattr(RDSBackend, "create_db_cluster", original)        # the capacity is back
    result = provision(cfg, confirm=True)
    actions = {(a.resource, a.name): a.action for a in result.actions}
    assert actions[(spec.POSTGRES.kind, spec.POSTGRES.identifier)] == "exists"      # not made twice, not reset
    assert actions[(f"{spec.AURORA.kind} cluster", spec.AURORA.identifier)] == "created"
    assert actions[("secret", spec.POSTGRES.secret)] == "exists"
    assert json.loads(sm.get_secret_value(SecretId=spec.POSTGRES.secret)["SecretString"])["password"] == password
    assert kinds(aws.inventory(cfg)) == ALL_KINDS
    assert outputs.path(cfg).exists()
    assert not provision(cfg, confirm=True).changed


def test_a_lost_import_secret_is_made_again_without_touching_the_master(cfg, moto_server):
    """Someone deleted `importer`'s secret: the next run makes a new one (its user gets the new password when the
    import's user step runs), and RDS's master password, whose secret is intact, is left alone."""
    provision(cfg, confirm=True)
    sm = moto_server.client("secretsmanager")
    value = {s: json.loads(sm.get_secret_value(SecretId=s)["SecretString"])
             for s in (spec.POSTGRES.secret, spec.POSTGRES.import_secret)}
    sm.delete_secret(SecretId=spec.POSTGRES.import_secret, ForceDeleteWithoutRecovery=True)

    result = provision(cfg, confirm=True)
    actions = {(a.resource, a.name): a.action for a in result.actions}
    assert actions[("secret", spec.POSTGRES.import_secret)] == "created"
    assert actions[(spec.POSTGRES.kind, spec.POSTGRES.identifier)] == "exists"      # no master password reset
    assert actions[("database user", f"importer@{spec.POSTGRES.identifier}")] == "unchecked"   # rehearsal
    again = json.loads(sm.get_secret_value(SecretId=spec.POSTGRES.import_secret)["SecretString"])
    assert again["password"] != value[spec.POSTGRES.import_secret]["password"]
    assert {k: v for k, v in again.items() if k != "password"} == \
        {k: v for k, v in value[spec.POSTGRES.import_secret].items() if k != "password"}   # host filled in again
    assert json.loads(sm.get_secret_value(SecretId=spec.POSTGRES.secret)["SecretString"]) == value[spec.POSTGRES.secret]
    assert kinds(aws.inventory(cfg)) == ALL_KINDS
