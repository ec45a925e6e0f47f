#!/usr/bin/env python3
"""Render a template: replace every @NAME@ with the value given as NAME=value; fail on any left over."""
import re
import sys

def main() -> int:
    if len(sys.argv) < 3:
        print("usage: render.py TEMPLATE OUTPUT [NAME=value ...]", file=sys.stderr)
        return 2
    template, output = sys.argv[1], sys.argv[2]
    values = dict(arg.split("=", 1) for arg in sys.argv[3:])
    text = open(template, encoding="utf-8").read()

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise SystemExit(f"render.py: {template}: no value for @{name}@")
        return values[name].replace("\\n", "\n")

    rendered = re.sub(r"@([A-Z][A-Z0-9_]*)@", substitute, text)
    with open(output, "w", encoding="utf-8") as out:
        out.write(rendered)
    return 0

if __name__ == "__main__":
    sys.exit(main())
