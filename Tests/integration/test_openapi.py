"""Real responses, success and error, validated against the OpenAPI document nginx serves."""
import jsonschema
import pytest

from conftest import wait_for, ROOT


@pytest.fixture(scope="module")
def spec(stack):
    r = stack.get("/openapi.json", key=None)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {"/", "/health", "/data", "/stats", "/runs", "/compare-runs"}
    return doc


def check(spec, name, body):
    # Validate against one component schema, with the whole document as the root for its $refs.
    schema = {**spec, "$ref": f"#/components/schemas/{name}"}
    jsonschema.Draft202012Validator(schema).validate(body)


def test_success_responses_match(stack, spec):
    index = spec["paths"]["/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**spec, **index}).validate(stack.get("/", key=None).json())
    check(spec, "Health", stack.get("/health", key=None).json())
    for params in ({}, {"limit": 3, "offset": 2}, {"symbol": "eth", "page_size": 2}):
        check(spec, "DataPage", stack.get("/data", params=params).json())
    check(spec, "Stats", stack.get("/stats").json())
    check(spec, "Runs", stack.get("/runs", params={"limit": 5}).json())


def test_compare_runs(stack, spec):
    stack.etl("run", "--source", "csv")
    body = stack.get("/compare-runs").json()
    check(spec, "CompareRuns", body)
    csv = [c for c in body["comparisons"] if c["source"] == "csv"]
    assert len(csv) == 1 and csv[0]["b"]["run_id"] > csv[0]["a"]["run_id"]
    a, b = csv[0]["a"]["run_id"], csv[0]["b"]["run_id"]
    pair = stack.get("/compare-runs", params={"a": a, "b": b}).json()
    check(spec, "CompareRuns", pair)
    assert pair["comparisons"][0]["deltas"]["fetched"] == csv[0]["b"]["fetched"] - csv[0]["a"]["fetched"]
    check(spec, "CompareRuns", stack.get("/compare-runs", params={"source": "csv"}).json())
    missing = stack.get("/compare-runs", params={"a": a, "b": 999999})
    assert missing.status_code == 404
    check(spec, "Error", missing.json())
    for query in ("a=1", "a=x&b=2", "a=1&b=2&source=csv", "source=mars"):
        r = stack.get("/compare-runs?" + query)
        assert r.status_code == 400, query
        check(spec, "Error", r.json())


def test_failed_run_is_an_anomaly(stack, spec, tmp_path):
    stack.etl("run", "--source", "csv", csv_dir=tmp_path / "nowhere", check=False)
    try:
        body = stack.get("/compare-runs", params={"source": "csv"}).json()
        check(spec, "CompareRuns", body)
        anomalies = body["comparisons"][0]["anomalies"]
        assert [a["kind"] for a in anomalies] == ["failure"]
        assert "does not exist or is not a directory" in anomalies[0]["reason"]
        # /health answers from a cache at most a second old.
        assert wait_for(lambda: stack.get("/health", key=None).json()["status"] == "degraded", timeout=2)
    finally:
        stack.etl("run", "--source", "csv")
    assert wait_for(lambda: stack.get("/health", key=None).json()["status"] == "healthy", timeout=2), stack.get("/health", key=None).text


@pytest.mark.parametrize("request_kwargs,status", [
    ({"path": "/data?page_size=0"}, 400),
    ({"path": "/data", "key": None}, 401),
    ({"path": "/nope"}, 404),
    ({"path": "/data?" + "x" * 9000}, 414),
])
def test_error_responses_match(stack, spec, request_kwargs, status):
    r = stack.get(request_kwargs["path"], key=request_kwargs.get("key", "bench"))
    assert r.status_code == status
    check(spec, "Error", r.json())
    assert r.json()["request_id"] == r.headers["x-request-id"]


def test_nginx_413_and_405_are_json(stack, spec):
    r = stack.http.post(stack.https + "/data", data=b"x" * 40000, headers={"x-api-key": stack.bench_key},
                        verify=stack.cert, timeout=5)
    assert r.status_code == 413
    check(spec, "Error", r.json())
    r = stack.http.delete(stack.https + "/health", verify=stack.cert, timeout=5)
    assert r.status_code == 405
    check(spec, "Error", r.json())


def test_document_in_repo_is_what_is_served(stack, spec):
    import json
    assert json.loads((ROOT / "docs" / "openapi.json").read_text()) == spec
