"""Responder processes: graceful SIGTERM under load behind nginx, and socket hand-over."""
import os
import pathlib
import signal
import subprocess
import threading
import time

from conftest import wait_for


def responder_pid(stack, index: int) -> int:
    return int((stack.run_dir / "sock" / f"api-{index}.pid").read_text())


def test_sigterm_drains_and_exits_while_nginx_keeps_serving(stack):
    failures, successes = [], []
    stop = threading.Event()

    def client():
        while not stop.is_set():
            r = stack.get("/data", params={"page_size": 20})
            (successes if r.status_code == 200 else failures).append(r.status_code)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    pid = responder_pid(stack, 1)
    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    exited = wait_for(lambda: not pathlib.Path(f"/proc/{pid}").exists() or
                      open(f"/proc/{pid}/stat").read().split()[2] == "Z", timeout=6)
    elapsed = time.monotonic() - started
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert exited and elapsed < 5, f"responder took {elapsed:.1f}s to exit"
    assert failures == [] and len(successes) > 50
    log = (stack.run_dir / "log" / "api-1.log").read_text()
    assert '"message":"stopped"' in log
    stack.sh("api-start")
    assert stack.get("/health", key=None).status_code == 200


def test_inherited_socket_fd3_as_systemd_passes_it(stack, tmp_path):
    """systemd-socket-activate passes the listening socket as fd 3 with LISTEN_FDS/LISTEN_PID."""
    sock = tmp_path / "activated.sock"
    env = {**stack.env, "DATABASE_URL": stack.api_url, "PGPASSFILE": stack.pgpass}
    process = subprocess.Popen(["systemd-socket-activate", "-l", str(sock), "-E", "DATABASE_URL", "-E", "PGPASSFILE",
                                str(stack.bin_dir / "kasparro-api"),
                                "--threads", "2"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(sock.exists, timeout=5)
        result = subprocess.run(["cgi-fcgi", "-bind", "-connect", str(sock)], env={
            "REQUEST_METHOD": "GET", "DOCUMENT_URI": "/health", "QUERY_STRING": "", "REQUEST_ID": "fd3-test",
            "SCRIPT_NAME": "/health"}, capture_output=True, text=True, timeout=10)
        assert "Status: 200" in result.stdout and '"request_id":"fd3-test"' in result.stdout, result.stdout
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=6)
    assert "using inherited listening socket" in process.stderr.read()
