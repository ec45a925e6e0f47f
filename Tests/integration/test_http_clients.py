"""What HTTP clients expect, through the real nginx and responders: compressed bodies (gzip, brotli),
validators and 304s, `Link: rel="next"`, and CSV for spreadsheets."""
import csv
import gzip
import io
import json
import re
import urllib.parse

import brotli

from conftest import wait_for


def raw_get(stack, path: str, headers: dict):
    """One GET whose body is not decoded by requests (the bytes on the wire)."""
    response = stack.http.get(stack.https + path, headers={"x-api-key": stack.bench_key, **headers}, timeout=10,
                              verify=stack.cert, stream=True)
    response.wire = response.raw.read(decode_content=False)
    return response


def test_pages_are_compressed_when_the_client_asks(stack):
    """A 50-record page of the real daily CSV histories (13 KB) is at most 3 KB compressed; an API
    snapshot's page (17-digit prices) is printed too."""
    for path in ("/data?page_size=50", "/data?page_size=50&source=coingecko"):
        for encoding in ("gzip", "br"):
            packed = raw_get(stack, path, {"Accept-Encoding": encoding})
            print(f"{path}: {encoding} {len(packed.wire)} bytes")
    plain = raw_get(stack, "/data?page_size=50&source=csv", {"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    page = json.loads(plain.wire)
    assert len(page["data"]) == 50
    for encoding, decode in (("gzip", gzip.decompress), ("br", brotli.decompress)):
        packed = raw_get(stack, "/data?page_size=50&source=csv", {"Accept-Encoding": encoding})
        assert packed.headers["Content-Encoding"] == encoding
        assert "Accept-Encoding" in packed.headers["Vary"]
        unpacked = json.loads(decode(packed.wire))
        assert unpacked["data"] == page["data"] and unpacked["total"] == page["total"]
        print(f"50-record page: {len(plain.wire)} bytes, {encoding} {len(packed.wire)} bytes")
        assert len(packed.wire) <= 3072, f"{encoding}: {len(packed.wire)} bytes"
    docs = raw_get(stack, "/docs/swagger-ui-bundle.js", {"Accept-Encoding": "gzip"})
    assert docs.status_code == 200 and docs.headers["Content-Encoding"] == "gzip"


def metric(stack, name: str) -> float:
    text = stack.get("/metrics", key=None).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " ") or line.startswith(name + "{"))


def test_a_page_revalidates_with_a_304_until_the_data_changes(stack):
    path = "/data?page_size=7&source=csv"
    first = stack.get(path)
    tag = first.headers["ETag"]
    assert re.fullmatch(r'W/"\d+\.\d+\.[0-9a-f]+"', tag), tag
    assert first.headers["Cache-Control"] == "private, no-cache" and "Last-Modified" not in first.headers
    assert "Accept" in first.headers["Vary"]
    statements = metric(stack, "kasparro_api_page_statements_total")
    for _ in range(20):
        again = stack.get(path, headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == tag
    assert metric(stack, "kasparro_api_page_statements_total") == statements, "a 304 runs no page statement"
    assert stack.get(path, headers={"If-None-Match": 'W/"0.0.0"'}).status_code == 200
    # Another query or representation is another validator.
    assert stack.get("/data?page_size=8&source=csv").headers["ETag"] != tag
    assert stack.get(path, headers={"Accept": "text/csv"}).headers["ETag"] != tag
    # A commit that changes served data: the old validator no longer matches.
    stack.psql_admin("UPDATE data_version SET version = version + 1, changed_at = clock_timestamp()")
    assert wait_for(lambda: stack.get(path, headers={"If-None-Match": tag}).status_code == 200, timeout=3)
    assert stack.get(path).headers["ETag"] != tag


def test_link_next_walks_the_same_pages_as_next_cursor(stack):
    first = stack.get("/data?page_size=3&source=csv&since=2020-01-01")
    body = first.json()
    link = first.headers["Link"]
    target = re.fullmatch(r'<(/data\?[^>]+)>; rel="next"', link).group(1)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
    assert query["cursor"] == [body["next_cursor"]] and query["source"] == ["csv"] and query["page_size"] == ["3"]
    assert query["since"] == ["2020-01-01T00:00:00Z"]
    following = stack.get(target).json()
    by_cursor = stack.get(f"/data?page_size=3&source=csv&since=2020-01-01&cursor={body['next_cursor']}").json()
    assert following["data"] == by_cursor["data"] and following["total"] == body["total"]
    last = stack.get(f"/data?source=csv&since=2020-01-01&page_size=500&page={body['total'] // 500 + 1}")
    assert "Link" not in last.headers and last.json()["next_cursor"] is None


def test_csv_is_the_same_page_with_a_header_row(stack):
    path = "/data?page_size=25&symbol=btc"
    as_json = stack.get(path)
    # Numbers as their JSON text, exactly: parsed without floats.
    page = json.loads(as_json.text, parse_float=str, parse_int=str)
    as_csv = stack.get(path, headers={"Accept": "text/csv"})
    assert as_csv.status_code == 200 and as_csv.headers["Content-Type"].startswith("text/csv")
    assert as_csv.headers["X-Total-Count"] == str(page["total"]) and "Accept" in as_csv.headers["Vary"]
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    header, records = rows[0], rows[1:]
    assert header == ["asset_id", "symbol", "name", "source", "source_id", "price_usd", "market_cap_usd",
                      "volume_24h_usd", "rank", "observed_at", "ingested_at"]
    assert len(records) == len(page["data"]) == 25
    for row, record in zip(records, page["data"]):
        expected = ["" if record[name] is None else str(record[name]) for name in header]
        assert row == expected
    assert as_csv.headers["Link"] == as_json.headers["Link"]
    # Bad parameters are still JSON 400s naming them.
    bad = stack.get("/data?page_size=0", headers={"Accept": "text/csv"})
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("page_size")
