"""Draw docs/results.md's Table 5 and its chart from docs/results/comparison.json.

The comparison's numbers live in one place, the JSON `genpt compare` wrote; the table in the
docs is rendered from it (between the two marker lines) and never typed by hand:

    python scripts/results_table.py                # rewrite the table and docs/results/comparison.png
    python scripts/results_table.py --check        # exit 1 if the docs' table is not the JSON's
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from genpt.atomic import write_file_atomically
from genpt.baselines.compare import markdown_table, plot_comparison, rows_from_json

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- comparison table: rendered from docs/results/comparison.json by scripts/results_table.py; do not edit -->"
END = "<!-- end of comparison table -->"


def rendered_table(comparison: Path) -> str:
    return markdown_table(*rows_from_json(json.loads(comparison.read_text())))


def documented_table(document: Path) -> str:
    """The table between the markers of `document`."""
    text = document.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{document}: expected the marker lines {BEGIN!r} and {END!r} around the table")
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def write_table(document: Path, table: str) -> None:
    text = document.read_text()
    before, rest = text.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    write_file_atomically(document, lambda p: p.write_text(f"{before}{BEGIN}\n{table}\n{END}{after}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comparison", type=Path, default=ROOT / "docs" / "results" / "comparison.json")
    parser.add_argument("--document", type=Path, default=ROOT / "docs" / "results.md")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the table differs")
    args = parser.parse_args(argv)
    table = rendered_table(args.comparison)
    if args.check:
        if documented_table(args.document) == table:
            return 0
        print(f"{args.document}: its comparison table is not the one {args.comparison} renders; "
              f"run python scripts/results_table.py", file=sys.stderr)
        return 1
    documented_table(args.document)  # the markers are there
    write_table(args.document, table)
    rows, tasks = rows_from_json(json.loads(args.comparison.read_text()))
    plot_comparison(rows, tasks, args.comparison.with_suffix(".png"), "genpt compare: dev scores by system")
    print(f"written: {args.document} (table), {args.comparison.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
