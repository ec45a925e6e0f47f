#!/usr/bin/env python3
"""`make fuzz`: builds the libFuzzer targets of Tests/fuzz/Targets apart from the product, cuts seeds
per record from ../shared/samples, runs each target for FUZZ_SECONDS and prints executions,
coverage and findings per target.

Each target reads three corpora: its growing corpus (.build-fuzz/corpus/TARGET, kept between
runs, never committed), the seeds cut at run time (.build-fuzz/seeds/TARGET) and the hand-made
edge cases committed in Tests/fuzz/TARGET. A finding (crash, hang past -timeout, memory past
-rss_limit_mb) is written to .build-fuzz/artifacts/ and fails the run: make it a unit test, then
fix it. Usage: fuzz.py [--seconds N] [--runs N] [--targets a,b] [--jobs N] (FUZZ_SECONDS, FUZZ_RUNS,
FUZZ_JOBS: targets run side by side, one per core by default)."""
import argparse
import base64
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples"
SCRATCH = ROOT / ".build-fuzz"
FLAGS = ["-c", "release", "--scratch-path", str(SCRATCH), "--sanitize=fuzzer", "--sanitize=address",
         "-Xswiftc", "-sanitize=fuzzer,address", "-Xswiftc", "-parse-as-library", "-Xswiftc", "-enable-testing"]
# Longest input per target: a seed is one record, not a whole file (a large seed slows every run).
# Measured: fuzz-json runs 9,000 inputs a second at -max_len=4096 and 39,000 at 1024.
MAX_LEN = {"json": 1024, "csv-reader": 1024, "csv-row": 512, "timestamp": 64, "decimal": 80,
           "query": 512, "cursor": 256}
TARGETS = list(MAX_LEN)


def build(targets: "list[str]") -> None:
    env = {**os.environ, "KASPARRO_FUZZ": "1"}
    for target in targets:
        result = subprocess.run(["swift", "build", *FLAGS, "--product", f"fuzz-{target}"], cwd=ROOT, env=env,
                                capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"fuzz.py: building fuzz-{target} failed:\n{result.stdout[-4000:]}{result.stderr[-4000:]}")


def raw_elements(path: Path, limit: int) -> "list[str]":
    """The first `limit` elements of a JSON array file, each as the exact text the API sent."""
    text = path.read_text()
    decoder = json.JSONDecoder()
    out, i = [], text.index("[") + 1
    while len(out) < limit:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text) or text[i] == "]":
            break
        _, end = decoder.raw_decode(text, i)
        out.append(text[i:end])
        i = end
    return out


def seeds() -> "dict[str, list[bytes]]":
    """Seeds cut per record from the recorded samples (never copied into the repository)."""
    out = {target: [] for target in TARGETS}
    json_files = [SAMPLES / "coinpaprika" / "tickers_quotes-USD_2021-08-12.json",
                  SAMPLES / "coingecko" / "markets_page1_per250_2025-02-09.json",
                  SAMPLES / "coingecko" / "markets_page1_per250_2022-02-23.json",
                  SAMPLES / "coingecko" / "coins_list_2022-02-23.json",
                  SAMPLES / "coinpaprika" / "coins_2021-08-12.json"]
    for path in json_files:
        elements = raw_elements(path, 40)
        out["json"] += [e.encode() for e in elements]
        out["json"].append(("[" + ",".join(elements[:3]) + "]").encode())
        for element in elements:
            for key, value in json.loads(element).items() if element.startswith("{") else []:
                if isinstance(value, str) and re.match(r"\d{4}-\d\d-\d\d", value):
                    out["timestamp"].append(value.encode())
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    number = re.search(rf'"{re.escape(key)}"\s*:\s*(-?[0-9.eE+-]+)', element)
                    if number:
                        out["decimal"].append(number.group(1).encode())
                if key == "id" and isinstance(value, str):
                    source = "coinpaprika" if "coinpaprika" in str(path) else "coingecko"
                    raw = f"v1|{1628762400000000 + len(out['cursor'])}|{source}|{value}"
                    out["cursor"].append(base64.urlsafe_b64encode(raw.encode()).rstrip(b"="))
    out["json"].append((SAMPLES / "coinpaprika" / "ticker_btc-bitcoin_2022-04-19.json").read_bytes())
    for path in sorted((SAMPLES / "csv").glob("*.csv")):
        data = path.read_bytes()
        out["csv-reader"].append(bytes([(len(out["csv-reader"]) * 37) % 256]) + data[:1000])
        lines = data.decode(errors="replace").splitlines()
        out["csv-row"].append("\n".join(lines[:3]).encode())
        out["csv-row"].append("\n".join([lines[0], lines[-1]]).encode())
        for row in list(csv.DictReader(lines))[:10]:
            out["timestamp"].append(row["Date"].encode())
            out["decimal"] += [row[c].encode() for c in ("Close", "Volume", "Marketcap") if row.get(c)]
    return {target: list(dict.fromkeys(items)) for target, items in out.items()}


def write_seeds() -> None:
    for target, items in seeds().items():
        directory = SCRATCH / "seeds" / target
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        for i, item in enumerate(items):
            (directory / f"seed-{i:04d}").write_bytes(item[:MAX_LEN[target]])


def run(target: str, seconds: int, runs: int) -> dict:
    corpus = SCRATCH / "corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts = SCRATCH / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    committed = ROOT / "Tests" / "fuzz" / target
    binary = SCRATCH / "release" / f"fuzz-{target}"
    command = [str(binary), f"-max_total_time={seconds}", f"-runs={runs}", f"-max_len={MAX_LEN[target]}", "-timeout=5",
               "-rss_limit_mb=2048", "-malloc_limit_mb=512", "-print_final_stats=1",
               f"-artifact_prefix={artifacts}/{target}-", str(corpus), str(SCRATCH / "seeds" / target), str(committed)]
    # libFuzzer's own crash report, not Swift's interactive backtracer.
    env = {**os.environ, "SWIFT_BACKTRACE": "enable=no", "ASAN_OPTIONS": "detect_leaks=1"}
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=seconds + 300)
    log = result.stderr
    (SCRATCH / f"{target}.log").write_text(log)
    stats = dict(re.findall(r"^stat::(\w+):\s+(\d+)", log, re.M))
    done = re.findall(r"cov: (\d+) ft: (\d+) corp: (\d+)/", log)
    finding = None
    if result.returncode != 0:
        written = re.findall(r"Test unit written to (\S+)", log)
        reason = re.search(r"(ERROR: \S+: [^\n]+|Fatal error: [^\n]+|precondition failure[^\n]*)", log)
        finding = f"{reason.group(1) if reason else 'exit ' + str(result.returncode)} -> {written[-1] if written else '?'}"
    return {"target": target, "seconds": time.monotonic() - started,
            "executions": int(stats.get("number_of_executed_units", 0)),
            "coverage": int(done[-1][0]) if done else 0, "features": int(done[-1][1]) if done else 0,
            "corpus": int(done[-1][2]) if done else 0, "rss_mb": int(stats.get("peak_rss_mb", 0)), "finding": finding}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "600")))
    parser.add_argument("--runs", type=int, default=int(os.environ.get("FUZZ_RUNS", "-1")),
                        help="stop a target after this many executions (FUZZ_RUNS; default: only the time limit)")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("FUZZ_JOBS", os.cpu_count() or 1)))
    args = parser.parse_args()
    targets = [t for t in args.targets.split(",") if t]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        sys.exit(f"fuzz.py: no such target: {', '.join(sorted(unknown))} (targets: {', '.join(TARGETS)})")
    build(targets)
    write_seeds()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda t: run(t, args.seconds, args.runs), targets))
    print(f"{'target':<11} {'seconds':>7} {'executions':>12} {'exec/s':>8} {'cov':>5} {'features':>8} "
          f"{'corpus':>6} {'rss MB':>6}  finding")
    for r in results:
        print(f"{r['target']:<11} {r['seconds']:>7.0f} {r['executions']:>12,} {r['executions'] / max(r['seconds'], 1):>8,.0f} "
              f"{r['coverage']:>5} {r['features']:>8} {r['corpus']:>6} {r['rss_mb']:>6}  {r['finding'] or 'none'}")
    (SCRATCH / "report.json").write_text(json.dumps(results, indent=2))
    return 1 if any(r["finding"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
