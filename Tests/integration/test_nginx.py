"""The edge: rate limits with JSON 429s, TLS versions, the HTTP redirect, key management,
and failover when a responder dies or is stopped under load."""
import concurrent.futures
import os
import re
import signal
import subprocess
import time

import requests

from conftest import wait_for


def burst(stack, n, key):
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(lambda _: stack.get("/data", key=key, params={"page_size": 1}), range(n)))


def test_client_rate_limit_is_json_429_with_retry_after(stack):
    responses = burst(stack, 150, stack.key)
    limited = [r for r in responses if r.status_code == 429]
    assert limited and any(r.status_code == 200 for r in responses)
    for r in limited[:5]:
        assert r.json()["error"]["code"] == "rate_limited"
        assert r.headers["retry-after"] == "1" and r.json()["request_id"] == r.headers["x-request-id"]
    time.sleep(2.5)
    assert stack.get("/data", key=stack.key).status_code == 200
    # The bench client has its own, higher limit: the same burst passes.
    assert all(r.status_code == 200 for r in burst(stack, 150, "bench"))


def test_unauthenticated_requests_are_limited_per_ip(stack):
    statuses = [r.status_code for r in burst(stack, 80, "wrong-key")]
    assert statuses.count(401) >= 5 and statuses.count(429) > 0, statuses
    time.sleep(3)


def tls_handshake(stack, *flags):
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{stack.env['HTTPS_PORT']}", *flags],
                          input="", capture_output=True, text=True, timeout=10)


def test_only_tls12_and_tls13(stack):
    for version in ("-tls1", "-tls1_1"):
        # OpenSSL 3 refuses these by itself unless the client's security level is lowered.
        result = tls_handshake(stack, version, "-cipher", "DEFAULT@SECLEVEL=0")
        assert result.returncode != 0 and "Cipher is (NONE)" in result.stdout + result.stderr or \
            "alert protocol version" in result.stderr, result.stdout[-500:] + result.stderr[-500:]
    for version, name in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
        result = tls_handshake(stack, version)
        assert result.returncode == 0 and f"Protocol  : {name}" in result.stdout or f"New, {name}" in result.stdout


def test_http_redirects_to_https(stack):
    r = requests.get(f"http://127.0.0.1:{stack.env['HTTP_PORT']}/data?x=1", allow_redirects=False, timeout=5)
    assert r.status_code == 301
    assert r.headers["location"] == f"https://127.0.0.1:{stack.env['HTTPS_PORT']}/data?x=1"


def test_add_and_revoke_a_client_key(stack):
    added = stack.sh("keys-admin", "add", "ops-team")
    key = added.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{48}", key)
    assert wait_for(lambda: stack.get("/stats", key=key).status_code == 200, timeout=5)
    assert "ops-team standard" in stack.sh("keys-admin", "list").stdout and key not in stack.sh("keys-admin", "list").stdout
    stack.sh("keys-admin", "revoke", "ops-team")
    assert wait_for(lambda: stack.get("/stats", key=key).status_code == 401, timeout=5)
    assert stack.get("/stats").status_code == 200
    # The access log names the client, never the key.
    log = (stack.run_dir / "log" / "nginx-access.log").read_text()
    assert '"client":"ops-team"' in log and key not in log


def wrk_under(stack, action, seconds=6):
    """Runs wrk against /data while `action` runs after 2 s; returns wrk's output."""
    process = subprocess.Popen(["wrk", "-t2", "-c16", f"-d{seconds}s", "-H", f"x-api-key: {stack.bench_key}",
                                f"{stack.https}/data?page_size=10"], stdout=subprocess.PIPE, text=True)
    time.sleep(2)
    action()
    out, _ = process.communicate(timeout=seconds + 30)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, errors.groups())) if errors else 0)
    return total, failed


def responder_pid(stack, index):
    return int((stack.run_dir / "sock" / f"api-{index}.pid").read_text())


def restore_pool(stack):
    stack.sh("api-start")
    assert wait_for(lambda: stack.get("/data").status_code == 200, timeout=5)


def test_failover_when_a_responder_is_killed_under_load(stack):
    pid = responder_pid(stack, 1)
    total, failed = wrk_under(stack, lambda: os.kill(pid, signal.SIGKILL))
    restore_pool(stack)
    print(f"kill -9 of 1 of 3 responders under wrk: {total} requests, {failed} failed")
    assert total > 1000 and failed == 0


def test_sigterm_of_a_responder_under_load_fails_nothing(stack):
    pid = responder_pid(stack, 2)
    total, failed = wrk_under(stack, lambda: os.kill(pid, signal.SIGTERM))
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z", 5)
    restore_pool(stack)
    print(f"SIGTERM of 1 of 3 responders under wrk: {total} requests, {failed} failed")
    assert total > 1000 and failed == 0
