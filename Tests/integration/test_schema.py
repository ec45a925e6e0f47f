"""One schema to read, and responders that carry no code for older ones: docs/schema.sql is what an
empty database looks like after every migration, and a responder that meets a database behind the
newest migration it knows waits for it, bounded, then answers a JSON 503 `schema_outdated`."""
import difflib
import json
import re
import threading
import time
import uuid

import schema
from conftest import LATEST_MIGRATION, ROOT, wait_for


def test_docs_schema_sql_is_the_migrated_schema(stack):
    """`make schema` wrote docs/schema.sql from the same dump: a migration added without running it,
    or the file edited by hand, fails here with the difference."""
    name = stack.fresh_database()
    dumped = schema.dump(stack.env, name)
    committed = (ROOT / "docs" / "schema.sql").read_text()
    if dumped != committed:
        diff = "".join(list(difflib.unified_diff(committed.splitlines(True), dumped.splitlines(True),
                                                 "docs/schema.sql", "migrated"))[:80])
        raise AssertionError("docs/schema.sql is not the migrated schema; run `make schema`:\n" + diff)
    # Normalised: nothing that changes between two dumps of one schema, no partition of a date.
    assert "Dumped from" not in dumped and not re.search(r"^SET ", dumped, re.M)
    assert not schema.PARTITION.search(dumped)
    assert "CREATE TABLE public.market_records" in dumped and "PARTITION BY RANGE (observed_at)" in dumped


def test_normalise_drops_date_named_partitions_and_session_settings():
    dump = ("--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 15.18\n\nSET statement_timeout = 0;\n"
            "SELECT pg_catalog.set_config('search_path', '', false);\n\n"
            "--\n-- Name: market_records; Type: TABLE; Schema: public; Owner: kasparro_etl\n--\n\n"
            "CREATE TABLE public.market_records (x int) PARTITION BY RANGE (x);\n\n"
            "--\n-- Name: market_records_m202611; Type: TABLE; Schema: public; Owner: kasparro_etl\n--\n\n"
            "CREATE TABLE public.market_records_m202611 (x int);\n")
    out = schema.normalise(dump)
    assert "CREATE TABLE public.market_records (x int)" in out
    assert "m202611" not in out and "SET " not in out and "Dumped" not in out and "set_config" not in out


def test_a_responder_waits_for_an_older_schema_then_answers_503_schema_outdated(stack, responder):
    name = "t_" + uuid.uuid4().hex[:10]
    stack.sh("createdb", name)
    stack.etl("migrate", "--to", str(LATEST_MIGRATION - 1), database=name)
    api = responder(database=name, env={"SCHEMA_WAIT_SECONDS": "1"})
    started = time.monotonic()
    status, head, body = api.get("/data")
    waited = time.monotonic() - started
    assert status == 503, body
    assert json.loads(body)["error"]["code"] == "schema_outdated" and "Retry-After: 5" in head, (head, body)
    assert waited >= 0.9, f"answered after {waited:.2f} s: the responder did not wait for the schema"
    # The log says which version it found and which it needs.
    assert wait_for(lambda: f'"schema_version":"{LATEST_MIGRATION - 1}"' in api.log.read_text()
                    and f'"needed_version":"{LATEST_MIGRATION}"' in api.log.read_text(),
                    timeout=3), api.log.read_text()[-2000:]
    for path in ("/stats", "/runs"):
        status, _, body = api.get(path)
        assert status == 503 and json.loads(body)["error"]["code"] == "schema_outdated", (path, body)

    # Migrated while a request waits: that request is answered from the new schema, and so is every later one.
    slow = responder(database=name, env={"SCHEMA_WAIT_SECONDS": "20"})
    answers = []
    waiting = threading.Thread(target=lambda: answers.append(slow.get("/stats")))
    waiting.start()
    time.sleep(1)
    stack.etl("migrate", database=name)
    waiting.join(timeout=30)
    assert answers and answers[0][0] == 200, answers
    status, _, body = api.get("/data")
    assert status == 200 and json.loads(body)["total"] == 0, body

