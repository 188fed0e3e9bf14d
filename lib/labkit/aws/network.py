"""The network part of provisioning: the default VPC and subnets, security groups and their rules.

The databases accept connections from the two EMR-managed security groups (the clusters' nodes, and nothing else
in the VPC) and from the learner's own address. That address changes (home, café, class): a rule made for an older
address is revoked when a new one is added. The databases' group does not carry the EMR-managed tag: EMR's v2
policy may edit the rules of tagged groups only.
"""
from __future__ import annotations

import ipaddress

from labkit.aws import spec
from labkit.aws.steps import Action, LabState, code
from labkit.errors import LabError

_EXAMPLE = "give your public IPv4 address, e.g. allow_cidr='203.0.113.7/32' (https://checkip.amazonaws.com shows it)"


def check_cidr(value: str) -> str:
    """The learner's address range, normalised; refused when it is not IPv4 or wider than a /24."""
    try:
        net = ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError:
        raise LabError(f"allow_cidr={value!r} is not an address range; {_EXAMPLE}") from None
    if net.version != 4:
        raise LabError(f"allow_cidr={value!r} is an IPv6 range, but the databases' security group rule (CidrIp) "
                       f"takes IPv4 only; {_EXAMPLE}")
    if net.prefixlen < spec.INGRESS_MIN_PREFIX:
        raise LabError(f"allow_cidr={value!r} would open the databases to {net.num_addresses:,} addresses (wider than "
                       f"/{spec.INGRESS_MIN_PREFIX}, a large part of the internet); {_EXAMPLE}")
    return str(net)


def public_cidr() -> str:
    """This machine's public IPv4 address as a /32 (what the databases will accept connections from)."""
    import urllib.request

    try:
        with urllib.request.urlopen("https://checkip.amazonaws.com", timeout=10) as resp:
            return check_cidr(resp.read().decode().strip() + "/32")
    except OSError as exc:
        raise LabError(f"could not look up this machine's public address ({exc}); pass it yourself, "
                       "e.g. allow_cidr='203.0.113.7/32'") from None


def _has(tags: list[dict] | None, tag: dict) -> bool:
    return any(t.get("Key") == tag["Key"] and t.get("Value") == tag["Value"] for t in tags or [])


class NetworkSteps(LabState):
    def network(self) -> dict:
        """Find the default VPC and its default subnets; returns the subnet the EMR clusters will use."""
        ec2 = self.acct.ec2
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        if not vpcs:
            raise LabError(f"region {self.acct.region} has no default VPC; create one (free) with `aws ec2 "
                           f"create-default-vpc --region {self.acct.region}` or choose another region (LAB_REGION)")
        self.vpc_id, self.vpc_cidr = vpcs[0]["VpcId"], vpcs[0]["CidrBlock"]
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [self.vpc_id]},
                                                {"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        subnets.sort(key=lambda s: s["AvailabilityZone"])
        if len(subnets) < 2:
            raise LabError(f"the default VPC {self.vpc_id} has {len(subnets)} default subnet(s); RDS needs two "
                           "availability zones: `aws ec2 create-default-subnet --availability-zone <zone>`")
        self.subnet_ids = [s["SubnetId"] for s in subnets]
        wanted = self.cfg.subnet_id
        if wanted and wanted not in self.subnet_ids:
            raise LabError(f"subnet {wanted} (LAB_SUBNET_ID / [aws] subnet_id) is not a default subnet of the default "
                           f"VPC {self.vpc_id}; leave it empty to use {self.subnet_ids[0]}")
        self.subnet_id = wanted or self.subnet_ids[0]
        return next(s for s in subnets if s["SubnetId"] == self.subnet_id)

    def emr_subnet_tag(self, subnet: dict, apply: bool) -> Action:
        """AmazonEMRServicePolicy_v2 launches nodes only into a subnet tagged for it. The default subnet is not
        ours: the tag is added (with a marker saying labkit added it, so the teardown removes only what it added)."""
        tag = spec.EMR_MANAGED_TAG
        what = f"tag {tag['Key']}={tag['Value']}"
        if _has(subnet.get("Tags"), tag):
            return Action("subnet tag", self.subnet_id, "exists", what)
        if not apply:
            return Action("subnet tag", self.subnet_id, "update", f"add {what} (removed by the teardown)")
        self.acct.ec2.create_tags(Resources=[self.subnet_id], Tags=[tag, spec.SUBNET_MARKER_TAG])
        return Action("subnet tag", self.subnet_id, "updated", f"added {what}")

    def _find_sg(self, name: str) -> dict | None:
        groups = self.acct.ec2.describe_security_groups(Filters=[
            {"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [self.vpc_id]}])["SecurityGroups"]
        if not groups:
            return None
        self.check_tag(groups[0].get("Tags"), "security group", name)
        return groups[0]

    def security_group(self, name: str, description: str, apply: bool, emr_managed: bool = True) -> Action:
        """A lab group; `emr_managed` ones carry EMR_MANAGED_TAG (AmazonEMRServicePolicy_v2 may then add and remove
        their rules), the databases' group must not (EMR has no business editing who reaches the databases)."""
        group = self._find_sg(name)
        tag, key = spec.EMR_MANAGED_TAG, spec.EMR_MANAGED_TAG["Key"]
        if group:
            gid = self.sg_ids[name] = group["GroupId"]
            tagged = any(t.get("Key") == key for t in group.get("Tags") or [])
            if emr_managed == _has(group.get("Tags"), tag) and (emr_managed or not tagged):
                return Action("security group", name, "exists", gid)
            change = f"add tag {key}" if emr_managed else f"remove tag {key} (EMR must not edit this group)"
            if not apply:
                return Action("security group", name, "update", change)
            if emr_managed:
                self.acct.ec2.create_tags(Resources=[gid], Tags=[tag])
            else:
                self.acct.ec2.delete_tags(Resources=[gid], Tags=[{"Key": key}])
            return Action("security group", name, "updated", change.replace("add ", "added ").replace("remove ",
                                                                                                       "removed "))
        if not apply:
            return Action("security group", name, "create", f"in the default VPC {self.vpc_id}")
        gid = self.acct.ec2.create_security_group(
            GroupName=name, Description=description, VpcId=self.vpc_id,
            TagSpecifications=[{"ResourceType": "security-group",
                                "Tags": spec.TAGS + ([tag] if emr_managed else [])}])["GroupId"]
        self.sg_ids[name] = gid
        return Action("security group", name, "created", gid)

    def db_ingress(self, apply: bool) -> Action:
        """tcp 5432/3306 from the two EMR groups (the nodes of the clusters) and from the learner's address; nothing
        else: rules of an older run (the whole VPC's range, an older address of the learner's) are revoked."""
        learner = f"{spec.INGRESS_RULE_PREFIX} (Airflow, notebooks)"
        emr_groups = [(n, self.sg_ids.get(n, "")) for n in (spec.SG_EMR_MASTER, spec.SG_EMR_SLAVE)]
        wanted_groups = [(db.port, gid, f"{spec.LAB_NAME}: {n} (EMR nodes)") for db in spec.DATABASES
                         for n, gid in emr_groups]
        wanted_cidrs = [(db.port, self.allow_cidr, learner) for db in spec.DATABASES] if self.allow_cidr else []
        group = self._find_sg(spec.SG_DB)
        have_groups, have_cidrs, stale_cidrs, stale_groups = set(), set(), [], []
        ours = {gid for _, gid in emr_groups}
        for perm in (group or {}).get("IpPermissions", []):
            port = perm.get("FromPort")
            for r in perm.get("IpRanges", []):
                have_cidrs.add((port, r.get("CidrIp")))
                learners = r.get("Description", "").startswith(spec.INGRESS_RULE_PREFIX)
                if (learners and self.allow_cidr and r.get("CidrIp") != self.allow_cidr) or (
                        not learners and r.get("CidrIp") == self.vpc_cidr):
                    stale_cidrs.append((port, r["CidrIp"]))
            for pair in perm.get("UserIdGroupPairs", []):
                have_groups.add((port, pair.get("GroupId")))
                if pair.get("GroupId") not in ours:
                    stale_groups.append((port, pair["GroupId"]))
        missing_groups = [w for w in wanted_groups if (w[0], w[1]) not in have_groups]
        missing_cidrs = [w for w in wanted_cidrs if (w[0], w[1]) not in have_cidrs]
        ports = "/".join(str(db.port) for db in spec.DATABASES)
        who = (f"the EMR groups ({spec.SG_EMR_MASTER}, {spec.SG_EMR_SLAVE}) and "
               + (self.allow_cidr if self.allow_cidr else "your public IP (looked up when confirm=True)"))
        old = sorted({c for _, c in stale_cidrs} | {g for _, g in stale_groups})
        old = f"; revoke {', '.join(old)} (an older run's rule)" if old else ""
        if not (missing_groups or missing_cidrs or stale_cidrs or stale_groups):
            return Action("ingress rules", spec.SG_DB, "exists", f"tcp {ports} from {who}")
        if not apply:
            return Action("ingress rules", spec.SG_DB, "update" if group else "create", f"tcp {ports} from {who}{old}")
        ec2, gid = self.acct.ec2, self.sg_ids[spec.SG_DB]
        if missing_groups or missing_cidrs:
            ec2.authorize_security_group_ingress(
                GroupId=gid,
                IpPermissions=[{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                                "UserIdGroupPairs": [{"GroupId": source, "Description": why}]}
                               for port, source, why in missing_groups]
                + [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                    "IpRanges": [{"CidrIp": cidr, "Description": why}]} for port, cidr, why in missing_cidrs],
                TagSpecifications=[{"ResourceType": "security-group-rule", "Tags": spec.TAGS}])
        if stale_cidrs or stale_groups:
            ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]}
                for port, cidr in stale_cidrs] + [
                {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "UserIdGroupPairs": [{"GroupId": g}]}
                for port, g in stale_groups])
        fresh = not (have_groups or have_cidrs)
        return Action("ingress rules", spec.SG_DB, "created" if fresh else "updated", f"tcp {ports} from {who}{old}")

    def db_subnet_group(self, apply: bool) -> Action:
        from botocore.exceptions import ClientError

        rds = self.acct.rds
        try:
            group = rds.describe_db_subnet_groups(DBSubnetGroupName=spec.DB_SUBNET_GROUP)["DBSubnetGroups"][0]
        except ClientError as exc:
            if code(exc) != "DBSubnetGroupNotFoundFault":
                raise
            group = None
        if group:
            tags = rds.list_tags_for_resource(ResourceName=group["DBSubnetGroupArn"])["TagList"]
            self.check_tag(tags, "DB subnet group", spec.DB_SUBNET_GROUP)
            return Action("DB subnet group", spec.DB_SUBNET_GROUP, "exists", f"{len(group['Subnets'])} subnets")
        if not apply:
            return Action("DB subnet group", spec.DB_SUBNET_GROUP, "create", f"{len(self.subnet_ids)} default subnets")
        rds.create_db_subnet_group(DBSubnetGroupName=spec.DB_SUBNET_GROUP, SubnetIds=self.subnet_ids,
                                   DBSubnetGroupDescription=f"{spec.LAB_NAME}: the default VPC's subnets",
                                   Tags=spec.TAGS)
        return Action("DB subnet group", spec.DB_SUBNET_GROUP, "created", f"{len(self.subnet_ids)} default subnets")
