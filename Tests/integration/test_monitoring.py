"""The alert rules load and behave (promtool), and every metric the rules and the dashboard use is one /metrics exports."""
import json
import re
import shutil
import subprocess

import yaml

from conftest import ROOT

MONITORING = ROOT / "monitoring"


def promtool(*args):
    assert shutil.which("promtool"), "promtool comes with Debian's prometheus package (make deps)"
    return subprocess.run(["promtool", *args], cwd=MONITORING, text=True, capture_output=True)


def test_rules_check_and_their_unit_tests_pass():
    check = promtool("check", "rules", "kasparro-alerts.yml")
    assert check.returncode == 0, check.stdout + check.stderr
    tests = promtool("test", "rules", "kasparro-alerts.test.yml")
    assert tests.returncode == 0, tests.stdout + tests.stderr


def expressions():
    rules = yaml.safe_load((MONITORING / "kasparro-alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            yield rule["alert"], rule["expr"]
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield panel["title"], target["expr"]


def test_every_metric_used_is_exported(stack):
    exported = stack.get("/metrics", key=None).text
    families = set(re.findall(r"^# TYPE (\S+) ", exported, re.M))
    names = set(re.findall(r"^([a-z_:][a-z0-9_:]*)[{ ]", exported, re.M))
    used = 0
    for where, expr in expressions():
        for metric in re.findall(r"\bkasparro_[a-z0-9_]+", expr):
            used += 1
            assert metric in names or metric in families, f"{where}: {metric} is not exported"
    assert used >= 15
