"""connections.get: one endpoint per service of the lab, and its failures as one line each."""
import pytest

import labkit
from labkit import LabError, connections
from helpers import free_port


def test_an_unknown_endpoint_is_one_line():
    with pytest.raises(LabError, match=r"^unknown endpoint 'redis': valid ones are postgres, mysql, aws, spark$"):
        connections.get(labkit.load(), "redis")


def test_the_endpoint_owns_its_address_and_the_airflow_records_come_from_it():
    cfg = labkit.load()
    pg = connections.get(cfg, "postgres")
    assert pg is connections.get(cfg, "postgres")                       # built once
    assert pg.jdbc_url == f"jdbc:postgresql://127.0.0.1:{cfg.ports['postgres']}/airline_db"
    assert "password" not in repr(pg) and pg.password not in repr(pg)
    records = {r["connection_id"]: r for r in connections.connections(cfg)}
    assert records["mysql_default"]["port"] == connections.get(cfg, "mysql").port == cfg.ports["mariadb"]
    assert connections.variables(cfg)["AURORA_ENDPOINT"] == connections.get(cfg, "mysql").address


@pytest.mark.parametrize("name, service", [("postgres", "postgres"), ("mysql", "mariadb")])
def test_nothing_listening_says_how_to_start_it(monkeypatch, name, service):
    monkeypatch.setenv(f"LAB_PORT_{service.upper()}", str(free_port()))
    endpoint = connections.get(labkit.load(), name)
    with pytest.raises(LabError) as err:
        endpoint.connect(password="x")
    # PostgreSQL holds Airflow's metadata too: the one command that brings back both is `labkit up`
    assert str(err.value).endswith(f"start it with {connections.start_command(service)}") and "\n" not in str(err.value)
    assert connections.start_command(service) == {
        "postgres": "`labkit up` (it starts postgres and airflow, which stopped with it)",
        "mariadb": "`labkit up mariadb`"}[service]
