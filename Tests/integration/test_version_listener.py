"""The cached path: a responder learns of new data versions from LISTEN/NOTIFY instead of asking the
database on every request, and never serves data older than what it could have known about: after
each commit, with its listening connection terminated or silently stalled, and when it started while
the database was down. /health answers from a cache at most one second old."""
import datetime
import json
import os
import re
import signal
import time

import pytest

from conftest import wait_for

LISTENER = "kasparro-api-version"
HEADER = "SNo,Name,Symbol,Date,High,Low,Open,Close,Volume,Marketcap\r\n"


def add_days(directory, days: int, first: int = 0) -> int:
    """SYNTHETIC test rows: appends `days` daily rows of one made-up coin; returns the rows in the file."""
    path = directory / "coin_Listenercoin.csv"
    if not path.exists():
        path.write_text(HEADER)
    start = datetime.date(2024, 1, 1)
    with open(path, "a") as f:
        for i in range(first, first + days):
            day = start + datetime.timedelta(days=i)
            f.write(f"{i + 1},Listenercoin,LSTN,{day:%d-%m-%Y} 23:59,2,1,1,{1 + i / 100},1000,5000000\r\n")
    return first + days


def metric(text: str, name: str) -> int:
    return int(re.search(rf"^{name} (\d+)$", text, re.M).group(1))


def total(responder) -> int:
    status, _, body = responder.get("/data", "page_size=2")
    assert status == 200, body
    return json.loads(body)["total"]


def listener_pids(stack, database: str) -> "list[int]":
    return [int(r[0]) for r in stack.psql_admin(
        f"SELECT pid FROM pg_stat_activity WHERE application_name = '{LISTENER}' AND datname = '{database}'")]


@pytest.fixture
def loaded(stack, tmp_path):
    """A database of the test's own with 5 rows, and the CSV directory that feeds it."""
    database = stack.fresh_database()
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    add_days(csv_dir, 5)
    stack.etl("run", "--source", "csv", database=database, csv_dir=csv_dir)
    return database, csv_dir


def test_a_cached_page_costs_no_database_round_trip(stack):
    # Every responder of the pool holds one listening connection.
    assert wait_for(lambda: len(listener_pids(stack, "kasparro")) == 3, timeout=10)
    assert stack.get("/data", params={"symbol": "eth", "page_size": 3}).status_code == 200
    before = stack.get("/metrics", key=None).text
    for _ in range(60):
        assert stack.get("/data", params={"symbol": "eth", "page_size": 3}).status_code == 200
    after = stack.get("/metrics", key=None).text
    assert metric(after, "kasparro_api_version_checks_total") == metric(before, "kasparro_api_version_checks_total")
    # At most one statement per responder that had not cached the page yet.
    assert metric(after, "kasparro_api_page_statements_total") - metric(before, "kasparro_api_page_statements_total") <= 3


def test_each_commit_is_served_without_asking_per_request(stack, loaded, responder):
    database, csv_dir = loaded
    api = responder(database=database)
    assert wait_for(lambda: len(listener_pids(stack, database)) == 1, timeout=5)
    assert total(api) == 5
    checks = metric(api.get("/metrics")[2], "kasparro_api_version_checks_total")
    rows = 5
    for _ in range(4):
        rows = add_days(csv_dir, 3, first=rows)
        stack.etl("run", "--source", "csv", database=database, csv_dir=csv_dir)
        assert wait_for(lambda: total(api) == rows, timeout=2), f"{total(api)} rows served, {rows} committed"
    # The new versions came from the listener: no request asked the database for one.
    assert metric(api.get("/metrics")[2], "kasparro_api_version_checks_total") == checks


def test_a_terminated_listener_never_leaves_stale_pages_and_comes_back(stack, loaded, responder):
    database, csv_dir = loaded
    api = responder(database=database)
    assert wait_for(lambda: len(listener_pids(stack, database)) == 1, timeout=5)
    assert total(api) == 5
    [old] = listener_pids(stack, database)
    stack.psql_admin(f"SELECT pg_terminate_backend({old}, 5000)")
    rows = add_days(csv_dir, 2, first=5)
    stack.etl("run", "--source", "csv", database=database, csv_dir=csv_dir)
    assert wait_for(lambda: total(api) == rows, timeout=1)
    # A new listening connection, counted, and cached pages need no round trip again.
    assert wait_for(lambda: listener_pids(stack, database) not in ([], [old]), timeout=5)
    text = api.get("/metrics")[2]
    assert metric(text, "kasparro_api_version_listener_connects_total") == 2
    checks = metric(text, "kasparro_api_version_checks_total")
    for _ in range(5):
        assert total(api) == rows
    assert metric(api.get("/metrics")[2], "kasparro_api_version_checks_total") == checks
    assert "version listener lost" in api.log.read_text()


def test_a_silently_stalled_listener_is_distrusted_within_its_bound(stack, loaded, responder):
    """No notification can arrive from a stopped backend; the heartbeat's bound (0.5 s + 0.5 s grace)
    ends the trust, and every request then asks the database: a commit is seen at once."""
    database, csv_dir = loaded
    api = responder(database=database)
    assert wait_for(lambda: len(listener_pids(stack, database)) == 1, timeout=5)
    assert total(api) == 5
    [backend] = listener_pids(stack, database)
    os.kill(backend, signal.SIGSTOP)
    try:
        time.sleep(1.2)
        rows = add_days(csv_dir, 2, first=5)
        stack.etl("run", "--source", "csv", database=database, csv_dir=csv_dir)
        checks = metric(api.get("/metrics")[2], "kasparro_api_version_checks_total")
        assert total(api) == rows, "the first request after the commit must see it"
        assert metric(api.get("/metrics")[2], "kasparro_api_version_checks_total") > checks
    finally:
        os.kill(backend, signal.SIGCONT)


@pytest.mark.disruptive(3)
def test_a_responder_started_while_the_database_is_down(stack, loaded, responder):
    database, csv_dir = loaded
    stack.sh("pg-stop")
    try:
        api = responder(database=database)
        status, head, body = api.get("/data", "page_size=2")
        assert status == 503 and json.loads(body)["error"]["code"] == "database_unavailable"
        assert api.get("/health")[0] == 503
    finally:
        stack.sh("pg-start")
    assert wait_for(lambda: api.get("/data", "page_size=2")[0] == 200, timeout=5)
    assert total(api) == 5
    rows = add_days(csv_dir, 4, first=5)
    stack.etl("run", "--source", "csv", database=database, csv_dir=csv_dir)
    assert wait_for(lambda: total(api) == rows, timeout=2)
    assert wait_for(lambda: len(listener_pids(stack, database)) == 1, timeout=5)


def test_health_is_cached_for_at_most_a_second(stack, loaded, responder):
    database, csv_dir = loaded
    api = responder(database=database)
    answers = []
    started = time.monotonic()
    while time.monotonic() - started < 0.5:
        status, _, body = api.get("/health")
        assert status == 200
        answers.append(json.loads(body))
    # One answer computed (two if a second boundary fell inside), shared by every request.
    assert len(answers) >= 5 and len({a["database"]["latency_ms"] for a in answers}) <= 2
    before = answers[-1]["etl"]["csv"]["last_run_at"]
    time.sleep(1.1)  # runs start at whole seconds: make this one's start differ
    stack.etl("run", "--source", "csv", database=database, csv_dir=csv_dir)
    finished = time.monotonic()
    assert wait_for(lambda: json.loads(api.get("/health")[2])["etl"]["csv"]["last_run_at"] != before, timeout=3)
    assert time.monotonic() - finished < 1.5
