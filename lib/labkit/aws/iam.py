"""The IAM part of provisioning: the EMR service role, the EC2 role of the nodes and its instance profile.

- Service role: AWS's AmazonEMRServicePolicy_v2 (it acts only on resources tagged
  `for-use-with-amazon-emr-managed-policies=true`), plus iam:PassRole for our EC2 role, which the managed
  policy grants only for EMR_EC2_DefaultRole. Its trust policy names our account and EMR in our account
  (aws:SourceAccount, aws:SourceArn: the EMR guide's confused-deputy protection).
- EC2 role: no managed policy (AmazonElasticMapReduceforEC2Role is deprecated, with no replacement); an inline
  policy that reads the lab's bucket, writes its EMR logs, and reads the two job logins' secrets (the EMR job's
  Aurora `emr`, the workshop import's PostgreSQL `importer`; no master's), nothing else. Its trust
  policy is EC2's plain one: EC2 documents no aws:SourceAccount for instance-profile roles, and a condition on
  a key that is absent would make the role unusable.
"""
from __future__ import annotations

import json

from labkit.aws import spec
from labkit.aws.steps import Action, LabState, code


def _statement(service: str, condition: dict | None) -> dict:
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return statement


class IamSteps(LabState):
    def role_arn(self, name: str) -> str:
        return f"arn:aws:iam::{self.acct.account_id}:role/{name}"

    def service_trust(self) -> dict:
        acct, region = self.acct.account_id, self.acct.region
        return {"Version": "2012-10-17", "Statement": [_statement("elasticmapreduce.amazonaws.com", {
            "StringEquals": {"aws:SourceAccount": acct},
            "ArnLike": {"aws:SourceArn": f"arn:aws:elasticmapreduce:{region}:{acct}:*"}})]}

    @staticmethod
    def ec2_trust() -> dict:
        return {"Version": "2012-10-17", "Statement": [_statement("ec2.amazonaws.com", None)]}

    def pass_role_policy(self) -> dict:
        return {"Version": "2012-10-17", "Statement": [{
            "Sid": "PassTheLabEc2Role", "Effect": "Allow", "Action": "iam:PassRole",
            "Resource": self.role_arn(spec.EMR_EC2_ROLE),
            "Condition": {"StringLike": {"iam:PassedToService": "ec2.amazonaws.com*"}}}]}

    def ec2_access_policy(self) -> dict:
        bucket = f"arn:aws:s3:::{self.bucket}"
        secrets = f"arn:aws:secretsmanager:{self.acct.region}:{self.acct.account_id}:secret:"
        read_secret = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
        return {"Version": "2012-10-17", "Statement": [
            {"Sid": "ListTheLabBucket", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
             "Resource": bucket},
            {"Sid": "ReadTheLabBucket", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{bucket}/*"},
            {"Sid": "WriteEmrLogs", "Effect": "Allow",
             "Action": ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
             "Resource": spec.write_resources(bucket, spec.EMR_LOG_PREFIX)},
            # the workshop job's steps: the import's staging folder, its renames and _SUCCESS, the aggregates; with
            # EMRFS's folder markers (`landing_$folder$`, tests/test_aws_policies.py enumerates what a write makes)
            {"Sid": "WriteTheLandingZone", "Effect": "Allow",
             "Action": ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
             "Resource": spec.write_resources(bucket, spec.LANDING_PREFIX)},
            # Secrets Manager adds 6 random characters to a secret's name in its ARN
            {"Sid": "ReadTheAuroraSecret", "Effect": "Allow", "Action": read_secret,
             "Resource": f"{secrets}{spec.AURORA.secret}-??????"},
            {"Sid": "ReadTheImportSecret", "Effect": "Allow", "Action": read_secret,
             "Resource": f"{secrets}{spec.POSTGRES.import_secret}-??????"},
        ]}

    def _get(self, call, **kwargs):
        from botocore.exceptions import ClientError

        try:
            return call(**kwargs)
        except ClientError as exc:
            if code(exc) == "NoSuchEntity":
                return None
            raise

    def role(self, name: str, trust: dict, managed: list[str], inline: tuple[str, dict], apply: bool) -> Action:
        """A role with exactly this trust, these managed policies (deprecated ones detached) and this inline policy."""
        iam = self.acct.iam
        policy_name, document = inline
        what = ", ".join([m.rsplit("/", 1)[-1] for m in managed] + [policy_name])
        found = self._get(iam.get_role, RoleName=name)
        if not found:
            if not apply:
                return Action("IAM role", name, "create", what)
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Tags=spec.TAGS,
                            Description=f"{spec.LAB_NAME}: made by labkit, deleted by its teardown")
        else:
            self.check_tag(found["Role"].get("Tags"), "IAM role", name)
        current_trust = found["Role"].get("AssumeRolePolicyDocument") if found else trust
        if isinstance(current_trust, str):
            current_trust = json.loads(current_trust)
        attached = ({p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]}
                    if found else set())
        current_inline = (self._get(iam.get_role_policy, RoleName=name, PolicyName=policy_name) or {}).get(
            "PolicyDocument") if found else None
        if isinstance(current_inline, str):
            current_inline = json.loads(current_inline)
        stale = sorted(attached & set(spec.DEPRECATED_POLICIES))
        todo = [step for step, needed in (
            ("trust", current_trust != trust), ("attach", not set(managed) <= attached), ("detach", bool(stale)),
            ("inline", current_inline != document)) if needed]
        if found and not todo:
            return Action("IAM role", name, "exists", what)
        if not apply:
            return Action("IAM role", name, "update", f"{what} ({', '.join(todo)})")
        if found and "trust" in todo:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
        for arn in stale:
            iam.detach_role_policy(RoleName=name, PolicyArn=arn)
        for arn in managed:
            if arn not in attached:
                iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        if "inline" in todo:
            iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
        return Action("IAM role", name, "updated" if found else "created", what)

    def roles(self, apply: bool) -> list[Action]:
        return [
            self.role(spec.EMR_SERVICE_ROLE, self.service_trust(), [spec.EMR_SERVICE_POLICY],
                      (spec.EMR_SERVICE_INLINE, self.pass_role_policy()), apply),
            self.role(spec.EMR_EC2_ROLE, self.ec2_trust(), [], (spec.EMR_EC2_INLINE, self.ec2_access_policy()), apply),
        ]

    def instance_profile(self, apply: bool) -> Action:
        iam, name = self.acct.iam, spec.EMR_EC2_ROLE
        found = self._get(iam.get_instance_profile, InstanceProfileName=name)
        if found:
            profile = found["InstanceProfile"]
            self.check_tag(profile.get("Tags"), "instance profile", name)
            if any(r["RoleName"] == name for r in profile.get("Roles", [])):
                return Action("instance profile", name, "exists", f"role {name}")
            if not apply:
                return Action("instance profile", name, "update", f"add role {name}")
        elif not apply:
            return Action("instance profile", name, "create", f"role {name}")
        else:
            iam.create_instance_profile(InstanceProfileName=name, Tags=spec.TAGS)
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
        return Action("instance profile", name, "updated" if found else "created", f"role {name}")
