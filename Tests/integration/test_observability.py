"""Metrics for the whole responder pool, ETL metrics, and logs: JSON lines without secrets."""
import concurrent.futures
import json
import subprocess

from prometheus_client.parser import text_string_to_metric_families

from conftest import fixture_script, wait_for


def scrape(stack):
    r = stack.get("/metrics", key=None)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def test_request_counters_are_exact_for_the_whole_pool(stack):
    before = scrape(stack)
    ids = []
    plan = [("/data?page_size=1", 200, 7), ("/data?page_size=0", 400, 3), ("/stats", 200, 2), ("/runs?limit=1", 200, 2)]
    # Concurrent requests use several upstream connections, so several responders answer.
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        for r, (path, status) in zip(pool.map(lambda item: stack.get(item[0]), [(p, s) for p, s, n in plan for _ in range(n)]),
                                     [(p, s) for p, s, n in plan for _ in range(n)]):
            assert r.status_code == status, path
            ids.append(r.headers["x-request-id"])
    for _ in range(2):
        r = stack.http.post(stack.https + "/data", headers={"x-api-key": stack.bench_key}, verify=stack.cert, timeout=5)
        assert r.status_code == 405
        ids.append(r.headers["x-request-id"])
    for _ in range(4):
        assert stack.get("/health", key=None).status_code == 200
    after = scrape(stack)
    expected = {("/data", "200"): 7, ("/data", "400"): 3, ("/data", "405"): 2, ("/stats", "200"): 2, ("/runs", "200"): 2,
                ("/health", "200"): 4}
    for (endpoint, status), n in expected.items():
        got = value(after, "kasparro_api_requests_total", endpoint=endpoint, status=status) - \
            value(before, "kasparro_api_requests_total", endpoint=endpoint, status=status)
        assert got == n, (endpoint, status, got)
    histogram = value(after, "kasparro_api_request_duration_seconds_count", endpoint="/data") - \
        value(before, "kasparro_api_request_duration_seconds_count", endpoint="/data")
    assert histogram == 12
    # Those requests were answered by more than one responder process.
    def upstreams() -> set:
        lines = (stack.run_dir / "log" / "nginx-access.log").read_text().splitlines()
        return {entry["upstream"] for entry in map(json.loads, lines) if entry["request_id"] in ids}
    assert wait_for(lambda: len(upstreams()) >= 2, timeout=3), upstreams()  # the log is buffered: within a second


def test_etl_run_moves_the_etl_counters(stack):
    before = scrape(stack)
    fixture_script(stack, [])
    stack.etl("run", "--source", "coinpaprika")
    after = scrape(stack)
    delta = lambda name, **l: value(after, name, **l) - value(before, name, **l)
    assert delta("kasparro_etl_records_fetched_total", source="coinpaprika") == 3795
    assert delta("kasparro_etl_records_unchanged_total", source="coinpaprika") == 3795
    assert delta("kasparro_etl_records_inserted_total", source="coinpaprika") == 0
    assert delta("kasparro_etl_runs_total", source="coinpaprika", status="succeeded") == 1
    assert delta("kasparro_etl_runs_total", source="csv", status="succeeded") == 0
    assert value(after, "kasparro_etl_last_success_timestamp_seconds", source="coinpaprika") > 1.7e9
    assert value(after, "kasparro_database_up") == 1


def test_metrics_are_local_only(stack):
    result = subprocess.run(["curl", "-s", "--interface", "127.0.0.2", "--cacert", stack.cert, "-o", "/dev/null",
                             "-w", "%{http_code}", f"{stack.https}/metrics"], capture_output=True, text=True)
    assert result.stdout == "403"


def test_logs_are_json_lines_without_secrets(stack):
    # Migrating an already-migrated database makes PostgreSQL send notices ("already exists, skipping"):
    # they too must reach the log as JSON lines, not as libpq's raw text.
    stack.sh("migrate")
    notices = [json.loads(line) for line in (stack.run_dir / "log" / "etl.log").read_text().splitlines()
               if "database notice" in line]
    assert any("already exists" in n.get("notice", "") for n in notices), notices
    secrets = [stack.key, stack.bench_key] + [line.split(":")[4] for line in open(stack.pgpass).read().splitlines()]
    logs = sorted((stack.run_dir / "log").glob("*.log"))
    assert {p.name for p in logs} >= {"etl.log", "api-1.log", "api-2.log", "nginx-access.log"}
    lines = 0
    for path in logs:
        text = path.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, f"a secret appears in {path.name}"
        if path.name in ("postgresql.log", "nginx-error.log", "fixture.log"):
            continue
        for line in text.splitlines():
            entry = json.loads(line)
            lines += 1
            if path.name != "nginx-access.log":
                assert {"time", "level", "message"} <= set(entry)
    assert lines > 20
    # At info level a responder logs no line per answered request (nginx's access log has them).
    api_log = [json.loads(l) for l in (stack.run_dir / "log" / "api-1.log").read_text().splitlines()]
    assert not [e for e in api_log if e["message"] == "request" and str(e["status"]) == "200"]


def test_request_lines_at_debug_and_failures_at_any_level(responder):
    fields = {"request_id", "client", "method", "path", "status", "duration_ms"}
    chatty = responder(env={"LOG_LEVEL": "debug"})
    assert chatty.get("/health")[0] == 200
    logged = [json.loads(l) for l in chatty.log.read_text().splitlines()]
    answered = [e for e in logged if e["message"] == "request"]
    assert answered and fields <= set(answered[-1]) and answered[-1]["level"] == "debug"
    # A failure is logged at the default level: here the database cannot be reached at all.
    unreachable = responder(env={"LOG_LEVEL": "info", "DATABASE_URL": "postgresql://kasparro_api@127.0.0.1:1/kasparro"})
    assert unreachable.get("/data")[0] == 503
    logged = [json.loads(l) for l in unreachable.log.read_text().splitlines()]
    failed = [e for e in logged if e["message"] == "request"]
    assert failed and fields <= set(failed[-1]) and failed[-1]["level"] == "warning" and str(failed[-1]["status"]) == "503"


def test_log_level_is_a_setting(stack):
    quiet = stack.etl("run", "--source", "csv", env={"LOG_LEVEL": "warning"})
    assert '"level":"info"' not in quiet.stderr
    chatty = stack.etl("run", "--source", "csv", env={"LOG_LEVEL": "debug"})
    assert '"level":"info"' in chatty.stderr
    for line in chatty.stderr.splitlines():
        json.loads(line)
