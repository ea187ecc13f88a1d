"""Two `tocsin serve` nodes receive the alerts of a few groups at once: one incident per group.

Grouping and open_after decide from what is stored (the group's open incident, its recent
firings), so two nodes deciding at once could each open an incident for one group, or each hold
an alert the other's count should have released. The service row lock serializes them: every
group ends with exactly one incident, holding every alert of the group and no other.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.serving import create_keys, serve
from tocsin.store.db import make_engine
from tocsin.store.models import Alert, IncidentService, Service

CLUSTERS = ["eu", "us", "ap", "sa"]
CLIENTS = 8
EVENTS = 12  # per client: 96 alerts, 24 per cluster


def _send(urls: list[str], key: str, client: int) -> list[int]:
    """Send this client's alerts to both nodes in turn; return the status codes."""
    codes = []
    nodes = [httpx.Client(base_url=url, timeout=60) for url in urls]
    try:
        for n in range(EVENTS):
            cluster = CLUSTERS[(client + n) % len(CLUSTERS)]
            body = {
                "routing_key": key,
                "event_action": "trigger",
                "dedup_key": f"c{client}-e{n}",
                "payload": {
                    "summary": f"replication broken in {cluster}",
                    "source": f"db-{client}",
                    "severity": "critical",
                    "custom_details": {"cluster": cluster},
                },
            }
            codes.append(nodes[n % len(nodes)].post("/v2/enqueue", json=body).status_code)
    finally:
        for node in nodes:
            node.close()
    return codes


@pytest.mark.slow
def test_two_nodes_open_one_incident_per_group(db_url: str, tmp_path: Path) -> None:
    key = create_keys(db_url, ["pagerduty"], service="database")["pagerduty"]
    engine = make_engine(db_url)
    with Session(engine) as session, session.begin():
        service = session.scalars(select(Service).where(Service.slug == "database")).one()
        service.group_by = ["cluster"]
        service.open_after_count, service.open_after_seconds = 3, 3600
    try:
        with ExitStack() as stack:
            nodes = [serve(db_url, tmp_path / f"node{n}.log") for n in range(2)]
            urls = [stack.enter_context(node).url for node in nodes]
            with ThreadPoolExecutor(CLIENTS) as pool:
                codes = [
                    c
                    for sent in pool.map(lambda c: _send(urls, key, c), range(CLIENTS))
                    for c in sent
                ]
        assert codes == [202] * CLIENTS * EVENTS
        with Session(engine) as session:
            alerts = session.execute(select(Alert.group_key, Alert.incident_id, Alert.route)).all()
            links = session.execute(
                select(IncidentService.group_key, IncidentService.incident_id)
            ).all()
    finally:
        engine.dispose()
    assert len(alerts) == CLIENTS * EVENTS
    assert sorted(group for group, _ in links) == sorted(f'{{cluster="{c}"}}' for c in CLUSTERS)
    incident_of = dict(links)
    by_incident: dict[int | None, set[str | None]] = defaultdict(set)
    for group, incident, route in alerts:
        assert route == "incident"  # none left held: every group passed its count
        by_incident[incident].add(group)
    assert dict(by_incident) == {incident: {group} for group, incident in incident_of.items()}
