"""A responder's database connection cut mid-query, under load: pg_terminate_backend on every API
connection four times a second while eight clients send uncached /data requests. The session
reconnects and retries once, so requests succeed; what cannot (a retry cut too) is a JSON 503
with Retry-After, never a 500, a hang or a crashed responder."""
import random
import threading
import time

import requests

from conftest import wait_for


def test_connections_cut_mid_query_under_load(stack):
    pids = sorted(p.read_text() for p in (stack.run_dir / "sock").glob("api-*.pid"))
    assert stack.get("/data").status_code == 200
    stop = threading.Event()
    results, cuts = [], []
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        while not stop.is_set():
            # Uncached: a numbered page of a filter the cache has not seen (offsets vary).
            params = {"limit": rng.choice([1, 5, 20]), "offset": rng.randrange(0, 5000),
                      "source": rng.choice(["csv", "coinpaprika", "coingecko"])}
            response = session.get(stack.https + "/data", params=params, headers={"x-api-key": stack.bench_key},
                                   verify=stack.cert, timeout=20)
            with lock:
                results.append((response.status_code, response.headers.get("Content-Type", ""),
                                response.headers.get("Retry-After"), response.text[:200]))

    def cutter() -> None:
        while not stop.is_set():
            killed = stack.psql_admin("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                      "WHERE usename = 'kasparro_api' AND pid <> pg_backend_pid()")
            cuts.append(int(killed[0][0]))
            time.sleep(0.25)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)] + [threading.Thread(target=cutter)]
    for thread in threads:
        thread.start()
    time.sleep(8)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    ok = sum(1 for status, *_ in results if status == 200)
    unavailable = [r for r in results if r[0] == 503]
    print(f"connections cut under load: {sum(cuts)} backends terminated, {len(results)} requests, "
          f"{ok} answered 200, {len(unavailable)} answered 503")
    assert sum(cuts) >= 20, "the cutter terminated connections in use"
    assert len(results) >= 100
    assert all(status in (200, 503) for status, *_ in results), [r for r in results if r[0] not in (200, 503)][:3]
    for status, content_type, retry_after, body in unavailable:
        assert content_type.startswith("application/json") and retry_after and "database_unavailable" in body
    # Reconnect and retry: nearly every request survives its connection being cut.
    assert ok >= 0.98 * len(results), f"{len(unavailable)} of {len(results)} failed"
    assert sorted(p.read_text() for p in (stack.run_dir / "sock").glob("api-*.pid")) == pids, "no responder restarted"
    assert wait_for(lambda: stack.get("/data", params={"page_size": 1}).status_code == 200, timeout=5)
