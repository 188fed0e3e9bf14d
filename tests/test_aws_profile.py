"""The `aws` profile's provisioning and teardown (labkit.aws), against a local moto server: no AWS account needed.

moto stands in for AWS here only; the local profile never runs on it. Every test talks to the session's moto
server over HTTP with real boto3 clients (tests/aws_server.py), from an empty account, with a copy of the project
(lab.toml, spark_jobs/) as LAB_ROOT so that files other people are editing cannot change what is uploaded
halfway through a test. The fault tests (teardown that must go on, provisioning that must resume) are in
test_aws_faults.py; IAM, network rules and preconditions in test_aws_policies.py.
"""
import json
import stat
from pathlib import Path

import pytest
from aws_server import ALL_KINDS, FAST, aws_env, aws_lab, cfg, kinds, provision  # noqa: F401  (fixtures)

import labkit
from labkit import LabError, aws, connections
from labkit.aws import outputs, spec

ROOT = Path(__file__).resolve().parents[1]


def test_dry_run_creates_nothing(cfg, moto_server, capsys):
    result = provision(cfg)
    assert not result.confirmed and not result.changed
    assert {a.action for a in result.actions} <= {"create", "update", "upload", "skipped", "ok", "unchecked"}
    checks = {a.resource: a.action for a in result.actions[:2]}
    assert checks == {"vCPU quota": "unchecked", "subnet": "ok"}     # moto has no EC2 quotas: said, not hidden
    printed = capsys.readouterr().out
    assert "Cost estimate" in printed and "total" in printed and "Dry run: nothing was created" in printed
    assert "1 workshop job runs of 15 min" in printed                # the workshop DAG's daily cluster (README)
    assert aws.inventory(cfg).empty
    assert moto_server.client("s3").list_buckets()["Buckets"] == []
    assert not outputs.path(cfg).exists()


def test_provision_twice_then_teardown_leaves_nothing(cfg, moto_server, capsys):
    first = provision(cfg, confirm=True)
    assert first.confirmed and first.changed
    assert {a.action for a in first.actions} <= {"created", "updated", "uploaded", "ok", "unchecked"}

    # Everything exists and carries the lab tag.
    assert kinds(aws.inventory(cfg)) == ALL_KINDS
    out = json.loads(outputs.path(cfg).read_text())
    s3, iam, rds = moto_server.client("s3"), moto_server.client("iam"), moto_server.client("rds")
    bucket = out["bucket"]
    assert spec.has_tag(s3.get_bucket_tagging(Bucket=bucket)["TagSet"])
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert {"spark_jobs/lab_probe.py", spec.JDBC_JAR_KEY, spec.POSTGRES_JDBC_JAR_KEY,
            "raw/retail/part-00000.parquet"} <= keys
    assert not [k for k in keys if "secret" in k or k.endswith(".properties")]     # no login in the bucket
    profile = iam.get_instance_profile(InstanceProfileName=spec.EMR_EC2_ROLE)["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [spec.EMR_EC2_ROLE]
    pg = rds.describe_db_instances(DBInstanceIdentifier=spec.POSTGRES.identifier)["DBInstances"][0]
    assert (pg["Engine"], pg["DBName"], pg["MasterUsername"]) == ("postgres", "airline_db", "airline")
    au = rds.describe_db_clusters(DBClusterIdentifier=spec.AURORA.identifier)["DBClusters"][0]
    assert (au["Engine"], au["DatabaseName"], au["MasterUsername"]) == ("aurora-mysql", "airflow", "lab_admin")
    assert spec.has_tag(pg["TagList"]) and spec.has_tag(au["TagList"])

    # Passwords: in Secrets Manager only; never printed, never in outputs.json (which is 0600).
    sm = moto_server.client("secretsmanager")
    passwords = [json.loads(sm.get_secret_value(SecretId=s)["SecretString"])["password"]
                 for s in (spec.POSTGRES.secret, spec.POSTGRES.import_secret, spec.AURORA.secret,
                           spec.AURORA.master_secret)]
    assert all(len(p) >= 32 for p in passwords) and len(set(passwords)) == 4
    text = outputs.path(cfg).read_text()
    printed = capsys.readouterr().out
    assert not any(p in text or p in printed for p in passwords)
    assert stat.S_IMODE(outputs.path(cfg).stat().st_mode) == 0o600

    # A second run finds everything and changes nothing.
    second = provision(cfg, confirm=True)
    assert not second.changed, [a for a in second.actions if a.action not in ("exists", "unchanged", "ok", "unchecked")]
    assert json.loads(outputs.path(cfg).read_text()) == out

    # What the DAG would leave behind (a tagged cluster) goes too; what is not ours stays.
    emr = moto_server.client("emr")
    cluster = emr.run_job_flow(Name="forgotten", ReleaseLabel=spec.EMR_RELEASE_LABEL, Tags=spec.TAGS,
                               JobFlowRole=spec.EMR_EC2_ROLE, ServiceRole=spec.EMR_SERVICE_ROLE, Instances={
                                   "InstanceGroups": [{"InstanceRole": "MASTER", "InstanceType": "m5.xlarge",
                                                       "InstanceCount": 1}], "KeepJobFlowAliveWhenNoSteps": True})
    s3.create_bucket(Bucket="someone-elses-bucket")

    result = aws.teardown(cfg, **FAST)
    assert result.left == [] and result.failed == []
    assert kinds(result.table()) == {**ALL_KINDS, "EMR cluster": 1}
    assert aws.inventory(cfg).empty
    state = emr.describe_cluster(ClusterId=cluster["JobFlowId"])["Cluster"]["Status"]["State"]
    assert state == "TERMINATED"
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["someone-elses-bucket"]
    assert not outputs.path(cfg).exists()
    assert "nothing tagged lab=airflow-lab is left" in capsys.readouterr().out

    again = aws.teardown(cfg, **FAST)          # harmless
    assert again.deleted == [] and again.left == [] and again.failed == []


def test_aws_connections_point_at_the_provisioned_endpoints(cfg, moto_server, monkeypatch):
    provision(cfg, confirm=True)
    rds, sm, s3, iam = (moto_server.client(n) for n in ("rds", "secretsmanager", "s3", "iam"))
    pg = rds.describe_db_instances(DBInstanceIdentifier=spec.POSTGRES.identifier)["DBInstances"][0]["Endpoint"]
    au = rds.describe_db_clusters(DBClusterIdentifier=spec.AURORA.identifier)["DBClusters"][0]["Endpoint"]
    secret = {s: json.loads(sm.get_secret_value(SecretId=s)["SecretString"])
              for s in (spec.POSTGRES.secret, spec.AURORA.secret)}

    conns = {c["connection_id"]: c for c in connections.connections(cfg)}
    assert (conns["postgres_default"]["host"], conns["postgres_default"]["port"]) == (pg["Address"], 5432)
    assert conns["postgres_default"]["schema"] == "airline_db" and conns["postgres_default"]["login"] == "airline"
    assert conns["postgres_default"]["password"] == secret[spec.POSTGRES.secret]["password"]
    assert (conns["mysql_default"]["host"], conns["mysql_default"]["schema"]) == (au, "airflow")
    assert conns["mysql_default"]["password"] == secret[spec.AURORA.secret]["password"]
    # boto3 was pointed at the moto server (AWS_ENDPOINT_URL): the connection carries it as data; on AWS, region only
    assert json.loads(conns["aws_default"]["extra"]) == {"region_name": "us-east-1", "endpoint_url": moto_server.url}
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert json.loads(connections.get(cfg, "aws").record()["extra"]) == {"region_name": "us-east-1"}
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    assert set(connections.table(cfg)["password"]) == {"***", ""}      # masked for projectors
    assert secret[spec.AURORA.secret]["host"] == au                    # the secret knows its endpoint

    v = connections.variables(cfg)
    bucket = v["S3_PATH"].removeprefix("s3://")
    assert s3.head_bucket(Bucket=bucket)
    assert v["AURORA_ENDPOINT"] == f"{au}:3306"
    subnets = moto_server.client("ec2").describe_subnets(SubnetIds=[v["SUBNET_ID"]])["Subnets"]
    assert subnets[0]["DefaultForAz"]
    assert v["EMR_LOG_URI"] == f"s3://{bucket}/emr-logs/" and v["EMR_RELEASE_LABEL"].startswith("emr-7.")
    assert iam.get_role(RoleName=v["EMR_SERVICE_ROLE"]) and iam.get_instance_profile(
        InstanceProfileName=v["EMR_INSTANCE_PROFILE"])
    groups = moto_server.client("ec2").describe_security_groups(
        GroupIds=[v["EMR_MASTER_SECURITY_GROUP"], v["EMR_SLAVE_SECURITY_GROUP"]])["SecurityGroups"]
    assert all(spec.has_tag(g["Tags"]) for g in groups)
    for uri in (v["JDBC_JAR_PATH"], v["SPARK_JOBS_PATH"] + "/lab_probe.py"):
        assert s3.head_object(Bucket=bucket, Key=uri.removeprefix(f"s3://{bucket}/"))
    # The job reads its own (non-master) login from Secrets Manager; the master's is another secret.
    assert v["EMR_JDBC_CREDENTIALS"] == f"secretsmanager://us-east-1/{spec.AURORA.secret}"
    assert (secret[spec.AURORA.secret]["username"], secret[spec.AURORA.secret]["driver"]) == ("emr", spec.JDBC_DRIVER)
    master = json.loads(sm.get_secret_value(SecretId=spec.AURORA.master_secret)["SecretString"])
    assert master["username"] == "lab_admin" and master["password"] != secret[spec.AURORA.secret]["password"]
    assert conns["mysql_default"]["login"] == "emr"

    # The workshop job's import step on EMR: its own read-only PostgreSQL login, its secret in RDS's shape + driver,
    # readable by the nodes' role; the PostgreSQL JDBC driver in the bucket where the variable points.
    out = outputs.read(cfg)
    assert v["WORKSHOP_JDBC_CREDENTIALS"] == out["workshop_jdbc_credentials"] == \
        "secretsmanager://us-east-1/airflow-lab/postgres-import"
    assert (out["postgres_import_user"], out["postgres_import_secret"]) == ("importer", spec.POSTGRES.import_secret)
    importer = json.loads(sm.get_secret_value(SecretId=spec.POSTGRES.import_secret)["SecretString"])
    assert {key: value for key, value in importer.items() if key != "password"} == {
        "engine": "postgres", "host": pg["Address"], "port": 5432, "username": "importer", "dbname": "airline_db",
        "driver": "org.postgresql.Driver"}
    assert importer["password"] not in (secret[spec.POSTGRES.secret]["password"], conns["postgres_default"]["password"])
    assert conns["postgres_default"]["login"] == "airline"               # the DAG's first task: still the master
    assert v["POSTGRES_JDBC_JAR_PATH"] == f"s3://{bucket}/jars/postgresql.jar"
    jar = s3.get_object(Bucket=bucket, Key=spec.POSTGRES_JDBC_JAR_KEY)["Body"].read()
    assert jar == spec.POSTGRES_JDBC_JAR.read_bytes()

    # The local profile defines the same names: only the values differ between profiles.
    monkeypatch.setenv("LAB_PROFILE", "local")
    local = connections.variables(labkit.load())
    assert set(local) == set(v)
    assert local["EMR_LOG_URI"] == "s3://lab-bucket/emr-logs/"
    assert (local["EMR_SERVICE_ROLE"], local["EMR_INSTANCE_PROFILE"]) == ("emr-service-role", "emr-ec2-role")
    assert local["POSTGRES_JDBC_JAR_PATH"] == "s3://lab-bucket/jars/postgresql.jar"
    assert local["WORKSHOP_JDBC_CREDENTIALS"] == (labkit.load().secrets_dir / "workshop_jdbc.properties").as_uri()


def test_the_import_user_is_planned_then_named_unchecked_in_a_rehearsal(cfg, moto_server):
    name = f"importer@{spec.POSTGRES.identifier}"
    plan = {a.name: a for a in provision(cfg).actions}
    assert (plan[name].action, plan[name].detail) == ("create", "SELECT on airline_db's tables, also those airline "
                                                                "makes later (not the master)")
    made = {a.name: a for a in provision(cfg, confirm=True).actions}
    host = outputs.read(cfg)["postgres_host"]
    assert made[name].action == "unchecked"                              # said, not faked
    assert f"rehearsal (LAB_AWS_REHEARSAL=1): no PostgreSQL answers at {host}:5432" in made[name].detail


def test_a_missing_postgresql_jdbc_driver_stops_before_anything(cfg, moto_server, monkeypatch, tmp_path):
    monkeypatch.setattr(spec, "POSTGRES_JDBC_JAR", tmp_path / "no" / "postgresql.jar")
    with pytest.raises(LabError) as err:
        provision(cfg, confirm=True)
    line = str(err.value)
    assert "\n" not in line and f"{tmp_path}/no/postgresql.jar not found" in line
    assert "PgJDBC 42.7.3" in line and "make setup" in line and "nothing was created" in line
    assert aws.inventory(cfg).empty and moto_server.client("s3").list_buckets()["Buckets"] == []


@pytest.mark.parametrize("which", ["JDBC_JAR", "POSTGRES_JDBC_JAR"])
def test_a_jdbc_driver_that_is_not_the_pinned_one_stops_before_anything(cfg, moto_server, monkeypatch, tmp_path, which):
    """The EMR steps run the jar provisioning uploads: it must be the pinned package's (version and sha256)."""
    other = tmp_path / "driver.jar"
    other.write_bytes(getattr(spec, which).read_bytes() + b"\0")          # one byte more: another build
    monkeypatch.setattr(spec, which, other)
    pin = spec.JDBC_JAR_PINS["mariadb" if which == "JDBC_JAR" else "postgres"]
    with pytest.raises(LabError) as err:
        provision(cfg, confirm=True)
    line = str(err.value)
    assert f"{other} is not the pinned {pin.project} {pin.version}" in line and "make setup" in line
    assert "\n" not in line and "nothing was created" in line
    assert aws.inventory(cfg).empty and moto_server.client("s3").list_buckets()["Buckets"] == []


def test_missing_credentials_stop_before_anything(monkeypatch, aws_lab, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(LabError) as err:
        provision(aws_lab, confirm=True)
    message = str(err.value)
    assert "no usable AWS credentials" in message and "AWS_PROFILE" in message and "nothing was created" in message
    assert "\n" not in message
    assert not aws_lab.state_dir.exists()


def test_invalid_credentials_stop_before_anything(cfg, moto_server, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-valid-secret")
    with moto_server.auth_required(), pytest.raises(LabError, match=r"AWS rejected the credentials \(InvalidClientTokenId"):
        provision(cfg, confirm=True)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "lab-test")
    assert aws.inventory(cfg).empty
    assert not outputs.path(cfg).exists()


def test_a_resource_with_our_name_but_not_our_tag_is_never_adopted(cfg, moto_server):
    ec2 = moto_server.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    ec2.create_security_group(GroupName=spec.SG_DB, Description="someone else's", VpcId=vpc)
    with pytest.raises(LabError, match="already exists but is not tagged lab=airflow-lab"):
        provision(cfg, confirm=True)
    aws.teardown(cfg, **FAST)                 # removes the subnet tag it added; the group is not ours
    assert aws.inventory(cfg).empty
    assert ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [spec.SG_DB]}])["SecurityGroups"]


def test_local_profile_is_refused(monkeypatch, aws_lab):
    monkeypatch.setenv("LAB_PROFILE", "local")
    with pytest.raises(LabError, match="need LAB_PROFILE=aws"):
        aws.provision(labkit.load())
    with pytest.raises(LabError, match="need LAB_PROFILE=aws"):
        aws.teardown(labkit.load())


def test_notebook_08_tears_down_the_aws_lab(cfg, tmp_path):
    """The notebook's aws branch in a real kernel; the kernel inherits AWS_ENDPOINT_URL (the moto server)."""
    import papermill

    provision(cfg, confirm=True)
    assert kinds(aws.inventory(cfg)) == ALL_KINDS
    papermill.execute_notebook(str(ROOT / "notebooks" / "09_teardown.ipynb"), str(tmp_path / "09.ipynb"),
                               cwd=str(ROOT / "notebooks"), kernel_name="python3", progress_bar=False,
                               parameters={"LAB_PROFILE": "aws", "LAB_SCALE": "smoke"})
    assert aws.inventory(cfg).empty
    assert not outputs.path(cfg).exists()


def test_a_step_log_is_read_from_s3_where_emr_pushes_it(cfg, moto_server, monkeypatch):
    """On aws a step's log is an S3 object (gzipped by EMR's log pusher), not a file in the state folder."""
    import gzip

    from labkit.aws.steplogs import step_log

    provision(cfg, confirm=True)
    values = connections.variables(cfg)
    log_uri = values["EMR_LOG_URI"]
    bucket, _, prefix = log_uri.removeprefix("s3://").partition("/")
    assert step_log(cfg, log_uri, "j-1ABC", "s-1ABC") == ""                    # not pushed yet
    text = "".join(f"line {i}\n" for i in range(100)) + "retail_quantity: input does not exist\n"
    moto_server.client("s3").put_object(Bucket=bucket, Key=f"{prefix}j-1ABC/steps/s-1ABC/stderr.gz",
                                        Body=gzip.compress(text.encode()))
    tail = step_log(cfg, log_uri, "j-1ABC", "s-1ABC", lines=3)
    assert tail.splitlines() == ["line 98", "line 99", "retail_quantity: input does not exist"]
    # what notebook 08 calls: emr_client.step_log reads S3 on aws and waits for a log EMR has not pushed yet
    from labkit import emr_client

    monkeypatch.setattr(emr_client, "LOG_POLL_SECONDS", 0.2)
    said = []
    assert emr_client.step_log(cfg, log_uri, "j-1ABC", "s-2ABC", wait=0, report=said.append) == "" and not said

    def push_once_waiting(line):                       # EMR's log pusher uploads it while step_log waits
        said.append(line)
        moto_server.client("s3").put_object(Bucket=bucket, Key=f"{prefix}j-1ABC/steps/s-2ABC/stdout.gz",
                                            Body=gzip.compress(b"pushed late\n"))

    assert emr_client.step_log(cfg, log_uri, "j-1ABC", "s-2ABC", "stdout", wait=60,
                               report=push_once_waiting) == "pushed late"
    assert said == ["stdout of step s-2ABC: not in S3 yet; waiting up to 60 s for EMR's log pusher"]
    with pytest.raises(LabError, match="is not an s3:// URI"):
        step_log(cfg, "/tmp/logs", "j-1ABC", "s-1ABC")
