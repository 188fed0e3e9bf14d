"""labkit.aws.growth: the projection to 10x and 100x on EMR, on small known inputs (it fails if a formula changes)."""
import pytest

from labkit.aws import cost, spec
from labkit.aws import growth as emr
from labkit.errors import LabError
from labkit.workshop.growth import Stage

GIB = 2**30
# One stage: 60 s fixed + 1,000 rows/s on 2 cores; the table has 600,000 rows (11 min on one machine).
STAGES = {"only": Stage("only", 60.0, 1000.0, 2, "reference")}
A = emr.Assumptions(startup_minutes=10, target_minutes=20, vcpu_speed=1.0, masters=1, max_nodes=10)
NODE_HOUR = 0.192 + 0.048                           # prices.json: ec2 + emr m5.xlarge


def test_the_instance_figures_come_from_spec():
    assert (emr.vcpus(), emr.memory_gib()) == (4, 16)
    assert spec.EMR_INSTANCE_TYPE in spec.EMR_INSTANCE_MEMORY_GIB
    with pytest.raises(LabError, match="no vCPU or memory figure for 'm9.huge'"):
        emr.vcpus("m9.huge")


def test_minutes_on_one_machine_and_on_emr():
    assert emr.one_machine_minutes(STAGES, 600_000) == pytest.approx(11.0)          # (60 + 600) / 60
    # 3 nodes = 1 master + 2 workers x 4 vCPUs = 8 cores: the rows part is 2/8 of 600 s = 150 s
    assert emr.emr_minutes(STAGES, 600_000, 3, A) == pytest.approx(10 + (60 + 150) / 60)
    slow = emr.Assumptions(startup_minutes=10, vcpu_speed=0.5)
    assert emr.emr_minutes(STAGES, 600_000, 3, slow) == pytest.approx(10 + (60 + 300) / 60)
    with pytest.raises(LabError, match="leave no worker"):
        emr.emr_minutes(STAGES, 600_000, 1, A)


def test_dollars_per_run():
    ebs = spec.EMR_EBS_GB_PER_NODE / cost.HOURS_PER_MONTH * cost.price("ebs gp2")
    assert emr.usd_per_run(3, 30) == pytest.approx(3 * 0.5 * (NODE_HOUR + ebs))
    assert emr.usd_per_run(3, 30) > 3 * 0.5 * NODE_HOUR                            # EBS is counted


def test_the_fewest_nodes_that_meet_the_target():
    # 10x: 6,000,000 rows = 6,000 s on 2 cores; within 20 min: 10 + (60 + 12,000/c) / 60 <= 20 -> c >= 22.2 cores
    assert emr.nodes_for(STAGES, 6_000_000, A) == (7, True)                          # 6 workers = 24 vCPUs
    assert emr.nodes_for(STAGES, 600_000, A) == (spec.emr_nodes(), True)             # never below the seed's
    assert emr.nodes_for(STAGES, 600_000_000, A) == (10, False)                      # max_nodes: the target is missed


def test_fits_on_one_machine():
    assert emr.fits(10 * GIB, 16 * GIB, 100 * GIB, 8 * GIB) == "yes"
    assert emr.fits(10 * GIB, 16 * GIB, 100 * GIB, 20 * GIB).startswith("on disk, not in RAM: reads 20 GiB, 16 GiB RAM")
    assert emr.fits(200 * GIB, 16 * GIB, 100 * GIB, 8 * GIB) == "no: needs 200 GiB of disk, 100 GiB free"


def test_where_the_cluster_pays_and_where_the_disk_is_full():
    # seed's 3 nodes: one machine 1 + r/1000/60 min; EMR 10 + 1 + r/4000/60 min -> equal at r = 800,000
    assert emr.crossover(STAGES, A) == pytest.approx(800_000, rel=1e-6)
    never = emr.Assumptions(vcpu_speed=0.25)                                        # 8 vCPUs = 2 cores: never faster
    assert emr.crossover(STAGES, never) is None
    assert emr.disk_full_rows(1000, {"heap": 6, "landed": 3, "aggregates": 1}, 100) == 10_000


def test_the_projection_table():
    sizes = {"heap": 1 * GIB, "landed": GIB // 2, "aggregates": GIB // 2}
    frame = emr.project(STAGES, 600_000, sizes, ram_bytes=16 * GIB, disk_free_bytes=100 * GIB, a=A)
    assert list(frame.index) == ["1x", "10x", "100x"]
    assert list(frame.columns) == ["rows", "one machine min", "fits on one machine?", "EMR nodes", "EMR vCPUs / RAM GiB",
                                   "EMR min (incl. start-up)", "meets the target?", "USD per run"]
    ten = frame.loc["10x"]
    assert (ten["rows"], ten["one machine min"], ten["EMR nodes"], ten["EMR vCPUs / RAM GiB"]) == \
        (6_000_000, 101.0, 7, "28 / 112")
    assert ten["EMR min (incl. start-up)"] == round(10 + (60 + 12_000 / 24) / 60, 1)
    # by hand from prices.json, not with the code under test: 7 nodes x 19.33 min x (EC2 + EMR fee per hour
    # + 79 GB of gp2 EBS per node at 0.10 USD per GB-month of 730 h) = 0.5657 USD
    assert ten["USD per run"] == round(7 * (10 + 560 / 60) / 60 * (NODE_HOUR + 79 / 730 * 0.10), 2) == 0.57
    assert frame.loc["1x", "fits on one machine?"] == "yes"
    assert frame.loc["100x", "fits on one machine?"] == "no: needs 200 GiB of disk, 100 GiB free"
    assert frame.loc["100x", "meets the target?"] == "no"
    with pytest.raises(LabError, match="bytes_per_table lacks landed"):
        emr.project(STAGES, 600_000, {"heap": 1, "aggregates": 1}, 1, 1)


def test_every_assumption_is_one_printed_line():
    lines = A.lines(STAGES)
    assert all("\n" not in line for line in lines)
    text = " ".join(lines)
    for fact in ("10 min from create to running", "<= 20 min", "m5.xlarge, 4 vCPUs and 16 GiB", "1 master",
                 cost.prices()["as_of"], "60.0 s fixed + 1,000 rows/s on 2 cores", "not priced here"):
        assert fact in text, fact
