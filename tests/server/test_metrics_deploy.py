"""deploy/'s Prometheus, its alert rules and the Grafana dashboard hold together with /metrics
and docker-compose.yml: every metric they query is one /metrics serves (with the suffix its
type has), every alert is explained in docs/operate.md, and the files compose mounts are the
ones they name. (Docker does not run here: this is what keeps them correct.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from server.settings import Settings
from tests.harness import Seed, running
from tests.server.test_metrics import scrape_text

ROOT = Path(__file__).resolve().parent.parent.parent
DEPLOY = ROOT / "deploy"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
WATCHED = (
    "tenwatch_presses",
    "tenwatch_press_to_commit_seconds",
    "tenwatch_press_to_socket_seconds",
    "tenwatch_sockets",
    "tenwatch_bus_up",
    "tenwatch_database_up",
    "tenwatch_outbox_jobs",
    "tenwatch_outbox_oldest_due_seconds",
    "tenwatch_sends",
    "tenwatch_escalations",
    "tenwatch_scheduler_lag_seconds",
    "tenwatch_sqlite_wal_frames",
    "tenwatch_sqlite_checkpoint_lag_frames",
    "tenwatch_db_pool_wait_seconds",
    "tenwatch_db_pool_connections",
)
"""The metrics of docs/operate.md's "Metrics" (other parts of the service may add their own)."""
PROMETHEUS_OWN = {"up"}
"""Series Prometheus makes itself for every target."""


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _dashboard() -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        (DEPLOY / "grafana" / "dashboards" / "tenwatch.json").read_text(encoding="utf-8")
    )
    return found


def _rules() -> list[dict[str, Any]]:
    groups = _yaml(DEPLOY / "prometheus" / "alerts.yml")["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _queried(expression: str) -> set[str]:
    """The series names a PromQL expression reads (names of ours, and Prometheus's own)."""
    names = set(re.findall(r"\b(tenwatch_[a-z0-9_]+)\b", expression))
    return names | {n for n in PROMETHEUS_OWN if re.search(rf"\b{n}\{{", expression)}


@pytest.fixture
async def served(sqlite_url: str, seeded: Seed) -> set[str]:
    """Every series name one scrape of the embedded app can carry (each family with its type's
    suffixes: a labelled counter not yet counted has no sample, but its family is there)."""
    async with running(Settings(database_url=sqlite_url)) as base:
        text = await scrape_text(base)
    return {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in SUFFIXES.get(family.type, ("",))
    } | PROMETHEUS_OWN


def test_every_dashboard_panel_queries_the_provisioned_prometheus() -> None:
    dashboard = _dashboard()
    datasources = _yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    [source] = datasources["datasources"]
    assert source["url"] == "http://prometheus:9090"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert panels
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"]


async def test_the_dashboard_and_the_alert_rules_query_only_metrics_the_app_serves(
    served: set[str],
) -> None:
    expressions = [t["expr"] for p in _dashboard()["panels"] for t in p.get("targets", ())]
    expressions += [rule["expr"] for rule in _rules()]
    queried = set().union(*(_queried(e) for e in expressions))
    assert queried - served == set()
    unwatched = {n for n in WATCHED if not any(q.startswith(n) for q in queried)}
    assert unwatched == set(), "a metric neither the dashboard nor an alert shows"


def test_every_alert_has_a_severity_a_summary_and_an_operators_paragraph() -> None:
    rules = _rules()
    assert rules
    operate = (ROOT / "docs" / "operate.md").read_text(encoding="utf-8")
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert f"`{rule['alert']}`" in operate, f"{rule['alert']} is not in docs/operate.md"


def test_compose_mounts_what_prometheus_and_grafana_read() -> None:
    compose = _yaml(ROOT / "docker-compose.yml")
    services = compose["services"]
    prometheus = _yaml(DEPLOY / "prometheus" / "prometheus.yml")
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    assert prometheus["rule_files"] == ["/etc/prometheus/alerts.yml"]
    [job] = prometheus["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["dns_sd_configs"][0]["names"] == ["app"]
    secret = job["authorization"]["credentials_file"]
    assert secret == f"/run/secrets/{services['prometheus']['secrets'][0]}"
    assert compose["secrets"]["metrics_token"]["environment"] == "TENWATCH_METRICS_TOKEN"
    app_env = services["app"]["environment"]
    assert app_env["TENWATCH_METRICS_TOKEN"].startswith("${TENWATCH_METRICS_TOKEN:?")

    grafana = services["grafana"]["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana
    mounted = next(v for v in grafana if v.startswith("./deploy/grafana/dashboards:"))
    provider = _yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "tenwatch.yml")
    assert mounted.split(":")[1] == provider["providers"][0]["options"]["path"]
