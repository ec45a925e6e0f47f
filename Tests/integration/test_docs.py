"""The docs stay true: the README is a front door of at most 200 lines, every relative link in it and
in docs/ resolves (to a file, and to a heading when it names one), and docs/configuration.md lists
exactly the settings the binaries and the scripts read."""
import re

import pytest

from conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def anchors(path) -> set:
    """GitHub's anchors for the headings of a Markdown file."""
    found = set()
    for line in path.read_text().splitlines():
        heading = re.match(r"#+\s+(.*)", line)
        if heading:
            text = re.sub(r"[`*_]", "", heading.group(1)).strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return found


def test_readme_is_the_front_door():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert "make up" in readme and "make test" in readme
    for page in ("docs/operations.md", "docs/configuration.md", "docs/design.md", "docs/performance.md"):
        assert f"]({page}" in readme, f"the README does not link {page}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc):
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:, file: — not ours to check offline
        path, _, anchor = target.partition("#")
        resolved = (doc.parent / path).resolve() if path else doc
        if not resolved.exists():
            broken.append(f"{target}: no file {resolved}")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.name}")
    assert broken == [], broken


def read_settings() -> set:
    """Every environment variable the binaries read (by name, through the settings readers or the
    environment) and every variable the stack and install scripts take with a default."""
    names = set()
    swift = re.compile(r'(?:settings(?:\.\w+)?\(|settings\[|environment\[|getenv\(|secret\(environment, )"([A-Z][A-Z0-9_]+)"')
    for source in (ROOT / "Sources").rglob("*.swift"):
        text = source.read_text()
        for name in swift.findall(text):
            names.add(name)
            if f'secret(environment, "{name}")' in text:
                names.add(name + "_FILE")
    for script in ("stack.sh", "cluster.sh", "install.sh", "render-site.sh", "build-deb.sh"):
        names.update(re.findall(r"\$\{([A-Z][A-Z0-9_]+):-", (ROOT / "scripts" / script).read_text()))
    # The benchmark, fuzz and soak scripts' own settings, and the manifest's.
    for script in (ROOT / "scripts").glob("*.py"):
        names.update(re.findall(r'os\.environ(?:\.get\(|\[)"([A-Z][A-Z0-9_]+)"', script.read_text()))
    names.update(re.findall(r'Context\.environment\["([A-Z][A-Z0-9_]+)"\]', (ROOT / "Package.swift").read_text()))
    return names


def documented_settings() -> set:
    names = set()
    for line in (ROOT / "docs" / "configuration.md").read_text().splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first))
    return names


def test_every_setting_is_documented_and_every_documented_one_is_read():
    read, documented = read_settings(), documented_settings()
    assert "ETL_BATCH_SIZE" in read and "SCHEMA_WAIT_SECONDS" in read and "PG_PORT" in read  # the readers are seen
    assert sorted(read - documented) == [], "read but not in docs/configuration.md"
    assert sorted(documented - read) == [], "in docs/configuration.md but read nowhere"
