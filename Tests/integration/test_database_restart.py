"""Database restart: 503 fast while PostgreSQL is down, service back within 2 s, no responder restarted."""
import time

import pytest

from conftest import wait_for


# It stops PostgreSQL: last, so no other test sees the database down.
@pytest.mark.disruptive(3)
def test_database_restart(stack):
    pids = sorted(p.read_text() for p in (stack.run_dir / "sock").glob("api-*.pid"))
    assert stack.get("/data").status_code == 200
    stack.sh("pg-stop")
    try:
        started = time.monotonic()
        # /health answers from a cache at most a second old.
        answered = wait_for(lambda: [r for r in [stack.get("/health", key=None)] if r.status_code == 503], timeout=2)
        assert answered, "/health still healthy 2 s after the database stopped"
        health = answered[0]
        body = health.json()
        assert body["status"] == "unhealthy" and body["database"]["status"] == "unhealthy"
        data = stack.get("/data")
        assert data.status_code == 503 and data.json()["error"]["code"] == "database_unavailable"
        assert "connection" not in data.text.lower() and "refused" not in data.text.lower()
        assert time.monotonic() - started < 2.5, "503 answers must be fast"
    finally:
        stack.sh("pg-start")
    up_at = time.monotonic()
    recovered = wait_for(lambda: stack.get("/data").status_code == 200 and stack.get("/health", key=None).status_code == 200,
                         timeout=5)
    assert recovered and time.monotonic() - up_at < 2
    # Every thread of every responder reconnects: a burst of requests all succeed.
    assert all(stack.get("/data", params={"page_size": 1}).status_code == 200 for _ in range(60))
    assert sorted(p.read_text() for p in (stack.run_dir / "sock").glob("api-*.pid")) == pids
