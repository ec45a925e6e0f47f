"""No stampede: concurrent misses of one page run one statement per responder, and a database too
busy to answer within the statement timeout is a JSON 503 with Retry-After, never a 500."""
import json
import re
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor


def page_statements(stack) -> int:
    text = stack.get("/metrics", key=None).text
    return int(re.search(r"^kasparro_api_page_statements_total (\d+)$", text, re.M).group(1))


def hold_lock(stack, seconds: float) -> subprocess.Popen:
    """Blocks every read of market_records for `seconds`, like a slow statement would."""
    sql = f"BEGIN; LOCK TABLE market_records IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep({seconds}); COMMIT;"
    process = subprocess.Popen(["psql", "-X", "-q", stack.etl_url, "-c", sql], env={**stack.env, "PGPASSFILE": stack.pgpass},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    return process


def burst(stack, query: str, count: int) -> list:
    """`count` identical requests at once, all to responder 1's socket (one process, one cache)."""
    sock = str(stack.run_dir / "sock" / "api-1.sock")

    def one(index):
        result = subprocess.run(["cgi-fcgi", "-bind", "-connect", sock], env={
            "REQUEST_METHOD": "GET", "DOCUMENT_URI": "/data", "SCRIPT_NAME": "/data", "QUERY_STRING": query,
            "REQUEST_ID": f"stampede-{index}"}, capture_output=True, text=True, timeout=30)
        head, _, body = result.stdout.partition("\n\n")  # text mode has turned \r\n into \n
        found = re.search(r"^Status: (\d+)", head, re.M)
        assert found, f"cgi-fcgi exit {result.returncode}: {result.stdout[:300]!r} {result.stderr[:300]!r}"
        status = int(found.group(1))
        return status, head, json.loads(body)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_concurrent_misses_run_one_statement(stack):
    query = f"symbol=S{uuid.uuid4().hex[:8]}&page_size=7"  # a page no responder has cached
    before = page_statements(stack)
    lock = hold_lock(stack, 2)
    results = burst(stack, query, 12)
    lock.wait(timeout=10)
    assert [status for status, _, _ in results] == [200] * 12
    assert page_statements(stack) - before == 1, "twelve concurrent misses of one page ran one statement"


def test_a_statement_timeout_is_a_503_with_retry_after(stack):
    query = f"symbol=T{uuid.uuid4().hex[:8]}"
    lock = hold_lock(stack, 7)  # longer than the responders' 5 s statement timeout
    results = burst(stack, query, 6)
    lock.wait(timeout=15)
    for status, head, body in results:
        assert status == 503, body
        assert body["error"]["code"] == "overloaded" and "Retry-After: 1" in head
    # Once the database answers again, so does the page.
    assert stack.get("/data", params={"symbol": query.split("=")[1]}).status_code == 200
