"""The series' two architecture pictures, drawn from code (the `diagrams` package + Graphviz) into images/.

Run `python -m labkit.architecture` (or `make images`) after changing them; the PNGs are committed so a
learner needs neither Graphviz nor this module to read the notebooks.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

GRAPH = {"fontsize": "13", "pad": "0.3", "splines": "spline", "nodesep": "0.6", "ranksep": "0.9"}


def workshop_job(out: Path) -> Path:
    """Seed 000: Airflow (a Hadoop/Spark/Sqoop client) -> PostgreSQL -> Sqoop -> HDFS -> Spark -> HDFS."""
    from diagrams import Cluster, Diagram, Edge
    from diagrams.aws.database import RDSPostgresqlInstance
    from diagrams.onprem.analytics import Hadoop, Spark
    from diagrams.onprem.workflow import Airflow
    from diagrams.programming.language import Python

    with Diagram("airflow_workshop_job (daily)", filename=str(out.with_suffix("")), outformat="png", show=False,
                 direction="LR", graph_attr=GRAPH):
        with Cluster("Airflow node: a client of the cluster\n(core-site.xml fs.defaultFS, yarn-site.xml, sqoop-env.sh)"):
            airflow = Airflow("Airflow 3")
            sqoop = Python("Sqoop-style import\n(parallel COPY)")
        pg = RDSPostgresqlInstance("PostgreSQL airline_db\ntbl_airflow_dummy_daily")
        with Cluster("Cluster (EMR on AWS; local folders and Spark here)"):
            landing = Hadoop("landing zone\n(fs.defaultFS)")
            spark = Spark("Spark aggregation")
        airflow >> Edge(label="1. the day's rows\n(delete + insert)") >> pg
        airflow >> Edge(label="2. import --where <day>") >> sqoop
        pg >> Edge(label="COPY streams") >> sqoop >> Edge(label="part-m-0000N") >> landing
        airflow >> Edge(label="3. spark-submit") >> spark
        landing >> Edge(label="read") >> spark >> Edge(label="aggregates") >> landing
    return out


def emr_job(out: Path) -> Path:
    """Seed 001: Airflow -> EMR (created per run) -> reads S3 -> writes Aurora MySQL -> cluster terminated."""
    from diagrams import Cluster, Diagram, Edge
    from diagrams.aws.analytics import EMRCluster
    from diagrams.aws.database import Aurora
    from diagrams.aws.storage import SimpleStorageServiceS3Bucket
    from diagrams.onprem.workflow import Airflow

    with Diagram("The ephemeral EMR job", filename=str(out.with_suffix("")), outformat="png", show=False,
                 direction="LR", graph_attr=GRAPH):
        airflow = Airflow("Airflow 3")
        with Cluster("lives only for one run"):
            emr = EMRCluster("EMR cluster\nspark-submit step")
        bucket = SimpleStorageServiceS3Bucket("S3 bucket\nraw retail parquet,\nspark job, JDBC jar")
        aurora = Aurora("Aurora MySQL\nairflow.emr_table")
        airflow >> Edge(label="create cluster, add step,\nwatch step, terminate (always)") >> emr
        bucket >> Edge(label="read parquet") >> emr
        emr >> Edge(label="append (date, sum(Quantity))") >> aurora
    return out


def draw_all(images_dir: Path) -> list[Path]:
    images_dir.mkdir(parents=True, exist_ok=True)
    here = Path.cwd()
    os.chdir(images_dir)   # diagrams writes next to the working directory
    try:
        return [workshop_job(images_dir / "workshop_job.png"), emr_job(images_dir / "emr_job.png")]
    finally:
        os.chdir(here)


if __name__ == "__main__":
    from labkit.config import project_root

    for path in draw_all(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else project_root() / "images"):
        print(path)
