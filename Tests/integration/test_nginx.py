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
from kasparro_tooling import free_port


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


def handshake(port, *flags):
    """The protocol openssl s_client negotiated with 127.0.0.1:port, or None when the handshake failed."""
    result = subprocess.run(["openssl", "s_client", "-brief", "-connect", f"127.0.0.1:{port}", *flags],
                            input="", capture_output=True, text=True, timeout=10)
    match = re.search(r"^Protocol version: (\S+)", result.stdout + result.stderr, re.M)
    return match.group(1) if result.returncode == 0 and match else None


# OpenSSL 3 refuses TLS 1.0/1.1 by itself unless the client's security level is lowered.
OLD = {"-tls1": "TLSv1", "-tls1_1": "TLSv1.1"}
LOWERED = ["-cipher", "DEFAULT@SECLEVEL=0"]


def test_only_tls12_and_tls13(stack):
    port = stack.env["HTTPS_PORT"]
    for flag in OLD:
        assert handshake(port, flag, *LOWERED) is None, flag
    assert handshake(port, "-tls1_2") == "TLSv1.2"
    assert handshake(port, "-tls1_3") == "TLSv1.3"


def test_the_site_tls_directives_refuse_old_versions_by_themselves(stack, tmp_path):
    """Debian's OpenSSL policy refuses TLS 1.0/1.1 too; with that policy off (OPENSSL_CONF=/dev/null),
    a server with the site's own ssl_* lines must still refuse them, while a control server that
    allows them is reached by the same client (so the check can fail)."""
    site = (stack.run_dir / "nginx" / "kasparro.conf").read_text()
    directives = "\n".join(l for l in site.splitlines() if re.match(r"\s*ssl_(protocols|ciphers|prefer_server_ciphers)\b", l))
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in directives
    cert, key = stack.run_dir / "nginx" / "tls.crt", stack.run_dir / "nginx" / "tls.key"
    site_port, control_port = free_port(), free_port()
    temp = " ".join(f"{kind}_temp_path {tmp_path}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp_path / "nginx.conf").write_text(f"""pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;
events {{}}
http {{ {temp}
  server {{ listen 127.0.0.1:{site_port} ssl; ssl_certificate {cert}; ssl_certificate_key {key};
    {directives}
    return 200 "site"; }}
  server {{ listen 127.0.0.1:{control_port} ssl; ssl_certificate {cert}; ssl_certificate_key {key};
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3; ssl_ciphers DEFAULT@SECLEVEL=0; return 200 "control"; }}
}}
""")
    env = {**os.environ, "OPENSSL_CONF": "/dev/null"}
    command = ["nginx", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "error.log")]
    subprocess.run(command, env=env, check=True)
    try:
        assert wait_for(lambda: handshake(control_port, "-tls1_2") == "TLSv1.2", timeout=5)
        for flag, name in OLD.items():
            assert handshake(control_port, flag, *LOWERED) == name, f"control server must accept {name}"
            assert handshake(site_port, flag, *LOWERED) is None, f"the site's directives accepted {name}"
        assert handshake(site_port, "-tls1_2") == "TLSv1.2"
    finally:
        subprocess.run(command + ["-s", "stop"], env=env)


def test_http_redirects_to_https(stack):
    r = requests.get(f"http://127.0.0.1:{stack.env['HTTP_PORT']}/data?x=1", allow_redirects=False, timeout=5)
    assert r.status_code == 301
    assert r.headers["location"] == f"https://127.0.0.1:{stack.env['HTTPS_PORT']}/data?x=1"


def test_add_and_revoke_a_client_key(stack):
    added = stack.sh("keys-admin", "add", "ops-team")
    key = added.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{48}", key)
    # Each change reloads nginx; the session's kept connection may be closed under the next request.
    assert wait_for(lambda: stack.status("/stats", key=key) == 200, timeout=5)
    assert "ops-team standard" in stack.sh("keys-admin", "list").stdout and key not in stack.sh("keys-admin", "list").stdout
    stack.sh("keys-admin", "revoke", "ops-team")
    assert wait_for(lambda: stack.status("/stats", key=key) == 401, timeout=5)
    assert wait_for(lambda: stack.status("/stats") == 200, timeout=5)
    # The access log names the client, never the key.
    log = stack.run_dir / "log" / "nginx-access.log"
    assert wait_for(lambda: '"client":"ops-team"' in log.read_text(), timeout=3)  # buffered: within a second
    assert key not in log.read_text()


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
    # nginx skips a server that failed for fail_timeout (2 s): wait it out so the next test sees the whole pool.
    time.sleep(2.2)


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
