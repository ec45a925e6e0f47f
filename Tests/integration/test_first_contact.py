"""What a new user trips over first: the front door, one parameter rule everywhere, nginx's own
errors as JSON, limits the OpenAPI document states, and commands that find their own stack."""
import json
import socket
import ssl
import struct
import subprocess
import time

import pytest
import requests

from conftest import ROOT, STACK, fixture_requests, wait_for

DOCUMENT = json.loads((ROOT / "docs" / "openapi.json").read_text())
PORT_SETTINGS = ("PG_PORT", "HTTPS_PORT", "HTTP_PORT", "BENCH_STATIC_PORT", "FIXTURE_PORT")


def test_front_door_json_and_html(stack):
    body = stack.get("/", key=None).json()
    assert body["name"] == "kasparro" and body["version"] == DOCUMENT["info"]["version"]
    assert body["links"]["docs"] == "/docs/" and body["links"]["openapi"] == "/openapi.json"
    page = stack.get("/", key=None, headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<a href="/docs/">' in page.text and '<a href="/health">' in page.text
    # JSON stays the default when JSON is preferred.
    assert stack.get("/", key=None, headers={"Accept": "application/json, text/html"}).json()["name"] == "kasparro"


def test_docs_are_served_with_their_own_policy_and_every_inherited_header(stack):
    page = stack.get("/docs/", key=None)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    for header in ("Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "X-Request-ID"):
        assert header in page.headers, header
    bundle = stack.get("/docs/swagger-ui-bundle.js", key=None)
    assert bundle.status_code == 200 and bundle.headers["Content-Type"].startswith("text/javascript")
    assert stack.get("/docs", key=None, allow_redirects=False).headers["Location"].endswith("/docs/")


@pytest.mark.parametrize("path", sorted(DOCUMENT["paths"]) + ["/metrics"])
def test_every_endpoint_refuses_unknown_and_repeated_parameters(stack, path):
    unknown = stack.get(path + "?zz=1")
    assert unknown.status_code == 400, unknown.text
    error = unknown.json()["error"]
    assert error["code"] == "unknown_parameter" and error["message"].startswith("zz: unknown parameter; ")
    assert not error["message"].endswith("allowed: "), "an empty list of allowed names says nothing"
    if path in ("/", "/health", "/stats", "/metrics"):
        assert error["message"].endswith("this endpoint takes no parameters")


def test_trace_is_405_with_allow(stack):
    response = stack.http.request("TRACE", stack.https + "/data", verify=stack.cert, timeout=10)
    assert response.status_code == 405 and response.headers["Allow"] == "GET, HEAD"
    assert response.json()["error"]["code"] == "method_not_allowed"
    post = stack.http.post(stack.https + "/data", headers={"x-api-key": stack.bench_key}, verify=stack.cert, timeout=10)
    assert post.status_code == 405 and post.headers["Allow"] == "GET, HEAD", "one Allow header, not two"


def test_oversized_header_is_a_json_400(stack):
    response = stack.get("/data", headers={"X-Big": "a" * 20_000})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request" and response.json()["request_id"]


def test_a_request_aborted_mid_headers_is_logged_as_json(stack):
    """An HTTP/2 HEADERS frame without END_HEADERS, then a closed connection: nginx has no status
    for it (it would log 000, which is not a JSON number)."""
    def frame(kind, flags, stream, payload):
        return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    log = stack.run_dir / "log" / "nginx-access.log"
    before = len(log.read_text().splitlines())
    with context.wrap_socket(socket.create_connection(("127.0.0.1", int(stack.env["HTTPS_PORT"]))),
                             server_hostname="localhost") as tls:
        assert tls.selected_alpn_protocol() == "h2"
        headers = bytes([0x82, 0x87, 0x84, 0x41, 9]) + b"localhost"  # GET https / :authority localhost
        tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"") + frame(1, 0, 1, headers))
        time.sleep(0.1)
    # The access log is buffered: a line reaches the file within a second.
    aborted = lambda: any(json.loads(line)["status"] == 0 for line in log.read_text().splitlines()[before:])
    assert wait_for(aborted, timeout=3), log.read_text().splitlines()[before:]


def integer_parameters():
    """Every integer query parameter: top-level ones, and the properties of an exploded object
    parameter's forms (`/compare-runs`' `a` and `b`)."""
    for path, item in DOCUMENT["paths"].items():
        for parameter in item["get"].get("parameters", []):
            schema = parameter.get("schema", {})
            if schema.get("type") == "integer":
                yield path, parameter["name"], schema
            for form in schema.get("oneOf", []) + schema.get("anyOf", []):
                for name, property_schema in form.get("properties", {}).items():
                    if property_schema.get("type") == "integer":
                        yield path, name, property_schema


@pytest.mark.parametrize("path,name,schema", list(integer_parameters()), ids=lambda v: v if isinstance(v, str) else "")
def test_integer_bounds_in_the_document_are_the_servers(stack, path, name, schema):
    """Every documented minimum and maximum is exactly where the server starts refusing."""
    def ask(value):
        params = {name: str(value)}
        if name in ("a", "b"):  # a run pair: both or neither; the other one valid
            params = {"a": "1", "b": "1", name: str(value)}
        return stack.get(path, params=params)
    assert "minimum" in schema and "maximum" in schema, f"{path} {name}: document both bounds"
    for inside in (schema["minimum"], schema["maximum"]):
        response = ask(inside)
        assert response.status_code != 400, f"{path} {name}={inside}: {response.text}"
    for outside in (schema["minimum"] - 1, schema["maximum"] + 1):
        response = ask(outside)
        assert response.status_code == 400, f"{path} {name}={outside}"
        assert response.json()["error"]["message"].startswith(name + ":")


@pytest.mark.parametrize("name", ["since", "until"])
def test_time_filters_take_the_documented_formats(stack, name):
    schema = next(p["schema"] for p in DOCUMENT["paths"]["/data"]["get"]["parameters"] if p["name"] == name)
    assert {f["format"] for f in schema["anyOf"]} == {"date-time", "date"}
    for good in schema["examples"]:
        assert stack.get("/data", params={name: good}).status_code == 200
    bad = stack.get("/data", params={name: "2024-13-01"})
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith(name + ":")


def without_ports(stack) -> dict:
    return {k: v for k, v in stack.env.items() if k not in PORT_SETTINGS}


def test_later_commands_use_the_stacks_own_ports(stack):
    env = without_ports(stack)
    info = subprocess.run([str(STACK), "info"], env=env, text=True, capture_output=True, check=True).stdout
    assert f"https://localhost:{stack.env['HTTPS_PORT']}" in info and ":8443" not in info
    settings = subprocess.run([str(STACK), "env"], env=env, text=True, capture_output=True, check=True).stdout
    assert f"PG_PORT={stack.env['PG_PORT']}\n" in settings
    assert f"BENCH_STATIC_PORT={stack.env['BENCH_STATIC_PORT']}\n" in settings


def test_make_etl_reads_its_own_fixture_server_unless_told_otherwise(stack):
    env = without_ports(stack)
    requests.post(stack.fixture + "/__reset", timeout=5)
    before = len(fixture_requests(stack))
    subprocess.run([str(STACK), "etl", "--source", "coinpaprika"], env=env, text=True, capture_output=True, check=True)
    assert any("/paprika/v1/tickers" in r["path"] for r in fixture_requests(stack)[before:])
    # A base URL the caller sets wins over the stack's fixture server.
    before = len(fixture_requests(stack))
    result = subprocess.run([str(STACK), "etl", "--source", "coinpaprika"],
                            env={**env, "COINPAPRIKA_BASE_URL": "http://127.0.0.1:1/v1"},
                            text=True, capture_output=True)
    assert result.returncode == 2
    assert not fixture_requests(stack)[before:]
