"""Read scale-out on a streaming hot standby (a stack of its own, `make up STANDBYS=1`): responders
read from the standby, fall back to the primary when it dies and come back when it returns, leave a
standby whose replay lags beyond REPLICA_MAX_LAG_SECONDS until it catches up, and report its
role and lag in /health."""
import datetime
import json
import os
import random
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import ROOT, running_stack, wait_for
from kasparro_tooling import RequestLoop


@pytest.fixture(scope="module")
def replicated():
    with running_stack("kasparro-standby-", STANDBYS="1", RESPONDERS="2", REPLICA_MAX_LAG_SECONDS="2") as s:
        settings = dict(line.split("=", 1) for line in (s.run_dir / "stack.env").read_text().splitlines() if "=" in line)
        s.standby_port = settings["STANDBY_PORTS"].split(",")[0]
        yield s


def api_sessions(stack, port=None) -> int:
    return int(stack.psql_admin("SELECT count(*) FROM pg_stat_activity WHERE usename = 'kasparro_api' "
                                "AND application_name = 'kasparro-api'", port=port)[0][0])


def append_bitcoin_days(stack, days: int) -> None:
    """SYNTHETIC test rows: `days` more days of Bitcoin after the newest one in the stack's CSV copy."""
    path = stack.csv_dir / "coin_Bitcoin.csv"
    lines = path.read_text().splitlines()
    number, last = int(lines[-1].split(",")[0]), datetime.datetime.strptime(lines[-1].split(",")[3], "%d-%m-%Y %H:%M")
    with open(path, "a") as f:
        for day in range(1, days + 1):
            f.write(f"{number + day},Bitcoin,BTC,{last + datetime.timedelta(days=day):%d-%m-%Y %H:%M},1,1,1,{50000 + day},1,1\r\n")


def total(stack, **params) -> int:
    r = stack.get("/data", params={"page_size": 1, **params})
    assert r.status_code == 200, r.text
    return r.json()["total"]


def Load(stack, params=lambda: {"page_size": 5}, clients: int = 4) -> RequestLoop:
    """Clients requesting /data through nginx until stopped; every non-200 is kept."""
    return RequestLoop(lambda _: stack.get("/data", params=params()).status_code, clients)


def test_no_standby_configured_is_the_primary_alone(stack):
    body = stack.get("/health", key=None).json()
    assert body["databases"] == [{"role": "primary", "status": "healthy"}]
    assert api_sessions(stack) > 0


def test_api_sessions_run_on_the_standby_and_serve_replayed_writes(replicated):
    before = total(replicated, symbol="btc")
    for _ in range(20):
        replicated.get("/data", params={"page_size": 3})
    assert api_sessions(replicated, port=replicated.standby_port) > 0
    assert api_sessions(replicated) == 0, "no API session on the primary while the standby answers"
    health = replicated.get("/health", key=None).json()
    assert [d["role"] for d in health["databases"]] == ["standby", "primary"]
    assert health["databases"][0]["status"] == "healthy" and health["databases"][0]["replay_lag_seconds"] < 2
    assert "127.0.0.1" not in json.dumps(health) and replicated.standby_port not in json.dumps(health)
    # The ETL writes on the primary (its DATABASE_URL may even name the standby first); the rows
    # reach the standby and are served from there.
    append_bitcoin_days(replicated, 3)
    replicated.etl("run", "--source", "csv", env={"DATABASE_URL":
        f"postgresql://kasparro_etl@127.0.0.1:{replicated.standby_port},127.0.0.1:{replicated.env['PG_PORT']}/kasparro"})
    assert wait_for(lambda: total(replicated, symbol="btc") == before + 3, timeout=3)
    metrics = replicated.get("/metrics", key=None).text
    assert f'kasparro_database_server_up{{server="127.0.0.1:{replicated.standby_port}",role="standby"}} 1' in metrics
    assert f'kasparro_database_replay_lag_seconds{{server="127.0.0.1:{replicated.standby_port}"}}' in metrics


def test_a_standby_lagging_beyond_the_bound_is_left_until_it_catches_up(replicated):
    """Replay paused: the standby's data is served while its lag is within REPLICA_MAX_LAG_SECONDS
    (2 s in this stack); beyond it every responder reads from the primary, so what it serves is
    never further behind; once replay catches up, the sessions go back to the standby."""
    before = total(replicated, symbol="btc")
    rng = random.Random(7)
    uncached = lambda: {"page_size": 5, "since": f"2016-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z"}
    replicated.psql_admin("SELECT pg_wal_replay_pause()", port=replicated.standby_port)
    try:
        with Load(replicated, params=uncached) as load:
            append_bitcoin_days(replicated, 2)
            replicated.etl("run", "--source", "csv")
            committed = time.monotonic()
            assert total(replicated, symbol="btc") == before, "within the bound: the standby's data"
            assert wait_for(lambda: total(replicated, symbol="btc") == before + 2, timeout=10, interval=0.1), \
                "beyond the bound the responders read from the primary"
            moved = time.monotonic() - committed
            assert api_sessions(replicated) > 0

            def lagging():
                body = replicated.get("/health", key=None).json()
                standby = body["databases"][0]
                return body["status"] == "degraded" and standby["status"] == "lagging" and standby["replay_paused"] and body
            degraded = wait_for(lagging, timeout=8, interval=0.3)
            assert degraded and degraded["databases"][0]["replay_lag_seconds"] > 2
            # Still paused: the responders stay on the primary (the watcher asks the standby every 5 s).
            time.sleep(6)
            assert total(replicated, symbol="btc") == before + 2
    finally:
        replicated.psql_admin("SELECT pg_wal_replay_resume()", port=replicated.standby_port)
    print(f"standby paused: the primary's data served {moved:.1f} s after the commit (bound 2 s); "
          f"{load.ok} requests ok, {len(load.failed)} failed")
    assert load.failed == [] and load.ok > 50
    assert 1.5 < moved < 6
    with Load(replicated, params=uncached):
        assert wait_for(lambda: api_sessions(replicated, port=replicated.standby_port) > 0, timeout=15, interval=0.5), \
            "sessions back on the standby once it caught up"
    assert total(replicated, symbol="btc") == before + 2
    assert wait_for(lambda: replicated.get("/health", key=None).json()["databases"][0]["status"] == "healthy", timeout=3)


def test_standby_killed_under_load_fails_nothing_and_sessions_return(replicated):
    pid = int(replicated.sh("standby", "pid", "1").stdout.strip())
    rng = random.Random(5)
    # Distinct filters: every request runs statements (a cached page needs no session at all).
    uncached = lambda: {"page_size": 5, "since": f"2015-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z"}
    with Load(replicated, params=uncached) as load:
        time.sleep(1)
        os.kill(pid, signal.SIGKILL)
        time.sleep(2)
        assert api_sessions(replicated) > 0, "the pool fell back to the primary"
        replicated.sh("standby", "start", "1")
        restarted = time.monotonic()
        back = wait_for(lambda: api_sessions(replicated, port=replicated.standby_port) > 0, timeout=30, interval=0.5)
        on_primary = api_sessions(replicated)
        returned_after = time.monotonic() - restarted
        time.sleep(0.5)
    print(f"standby kill -9 under load: {load.ok} requests ok, {len(load.failed)} failed; "
          f"sessions back on the standby {returned_after:.1f} s after its restart")
    assert load.failed == [] and load.ok > 100
    assert back, f"sessions did not return to the standby within 30 s ({on_primary} on the primary)"


def test_retention_drop_on_the_primary_while_the_standby_reads_it(replicated):
    """Replay of the DETACH/DROP waits for the standby's running queries (max_standby_streaming_delay)
    instead of cancelling them: 0 failed requests while old partitions go."""
    rng = random.Random(3)
    # The samples start in April 2016; 96 months back from today drops the 2016 and 2017 partitions.
    old = lambda: {"symbol": "btc", "page_size": 5, "until": f"{rng.randint(2016, 2017)}-{rng.randint(1, 12):02d}-01"}
    assert total(replicated, until="2018-01-01") > 0
    with Load(replicated, params=old) as load:
        time.sleep(1)
        replicated.etl("retention", env={"RETENTION_MARKET_MONTHS": "96", "RETENTION_RAW_MONTHS": "96"})
        time.sleep(1.5)
    assert load.failed == [] and load.ok > 50, load.failed[:5]
    assert wait_for(lambda: total(replicated, until="2018-01-01") == 0, timeout=3)


def test_a_read_cancelled_by_recovery_is_run_once_more(replicated):
    """A hot standby cancels a read that is in the way of the WAL it replays (SQLSTATE 40001, or
    40P01 when the read and the startup process wait for each other); the responder runs it once
    more and the client gets its page. Provoked on purpose: a transaction on the primary holds one
    partition (replayed: the standby's startup process holds it), so a standby read waits there while
    holding the parent; a second transaction locks the parent, and the startup process, waiting for
    the read that waits for it, has the read cancelled (40P01)."""
    partitions = [row[0] for row in replicated.psql_admin(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'market_records'::regclass ORDER BY 1")]
    standby_log = replicated.run_dir / "log" / "postgresql-standby-1.log"
    cancelled = lambda: len(re.findall(r"ERROR:  (deadlock detected|canceling statement due to conflict with recovery)",
                                       standby_log.read_text()))
    before = cancelled()

    def hold(relation: str) -> subprocess.Popen:
        """A transaction on the primary holding `relation` (ACCESS EXCLUSIVE) until COMMIT is written
        to it, and the standby's startup process holding it too."""
        statement = f"LOCK TABLE {relation} IN ACCESS EXCLUSIVE MODE"
        session = subprocess.Popen([str(ROOT / "scripts" / "stack.sh"), "psql-admin", "-At", "-v", "ON_ERROR_STOP=1"],
                                   env=replicated.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        session.stdin.write(f"BEGIN; {statement}; SELECT 'held';\n")
        session.stdin.flush()
        while (line := session.stdout.readline()) and line.strip() != "held":
            pass
        assert line, session.stderr.read()
        replicated.psql_admin("SELECT txid_current()")  # a commit flushes the lock's WAL record to the standby
        name = relation.removeprefix("ONLY ")
        assert wait_for(lambda: replicated.psql_admin(
            f"SELECT count(*) FROM pg_locks WHERE relation = '{name}'::regclass AND mode = 'AccessExclusiveLock'",
            port=replicated.standby_port)[0][0] == "1", timeout=3, interval=0.02), f"the standby never replayed the lock on {name}"
        return session

    held = [hold(partitions[0])]
    results = []
    reader = threading.Thread(target=lambda: results.append(
        replicated.get("/data", params={"page_size": 3, "since": "2016-05-05T01:02:03Z"})))
    try:
        reader.start()
        assert wait_for(lambda: replicated.psql_admin(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kasparro-api' AND wait_event_type = 'Lock'",
            port=replicated.standby_port)[0][0] != "0", timeout=3, interval=0.05), "the read never waited for the partition"
        held.append(hold("ONLY market_records"))
        assert wait_for(lambda: cancelled() > before, timeout=4, interval=0.05), "the standby cancelled no read"
    finally:
        for session in held:
            session.stdin.write("COMMIT;\n")
            session.stdin.close()
            session.wait(timeout=10)
        reader.join(timeout=15)
    # Before the retry, the cancelled read was the client's 503.
    assert results and results[0].status_code == 200, results[0].text if results else "no answer"
    assert results[0].json()["data"], "an empty page"
    assert any("database read cancelled by recovery; run once more" in p.read_text()
               for p in (replicated.run_dir / "log").glob("api-*.log"))


def test_down_leaves_no_replication_slot(replicated):
    assert replicated.psql_admin("SELECT count(*) FROM pg_replication_slots")[0][0] == "1"
    replicated.sh("down")
    replicated.sh("pg-start")
    try:
        assert replicated.psql_admin("SELECT count(*) FROM pg_replication_slots")[0][0] == "0"
        assert not list((replicated.run_dir / "pg").glob("standby-*"))
    finally:
        replicated.sh("pg-stop")
