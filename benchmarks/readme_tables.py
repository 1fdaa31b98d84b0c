"""README's generated sections, between <!-- name --> and <!-- /name --> markers:
the flag table from the trainer's parser, the result tables from results/.

    python benchmarks/readme_tables.py           # rewrite them in README.md
    python benchmarks/readme_tables.py --check   # exit 1 if README.md differs (a test runs this)
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ablation_table  # noqa: E402
import multiplication_problem as mp  # noqa: E402
import paper_table  # noqa: E402
import readings_table  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "examples"))
import pytorch_check  # noqa: E402  (imports torch only if it is installed; the table needs none)


def flag_table():
    rows = ["| flag | meaning |", "|---|---|"]
    for action in mp.build_parser()._actions:
        if action.option_strings and action.dest != "help":
            flag = action.option_strings[0] + (f" {{{','.join(map(str, action.choices))}}}" if action.choices else "")
            rows.append(f"| `{flag}` | {' '.join(action.help.replace('%%', '%').replace('%(default)s', str(action.default)).split())} |")
    return "\n".join(rows)


def forum_table():
    import json
    with open(os.path.join(ROOT, "results", "pytorch_forum", "forum.json")) as f:
        saved = json.load(f)
    return pytorch_check.forum_table(saved["rows"], saved["budget"])


SECTIONS = {
    "flags": flag_table,
    "paper-glance": paper_table.glance,
    "paper-table": paper_table.table,
    "ablation-reference-table": ablation_table.reference_table,
    "ablation-paper-table": ablation_table.paper_table,
    "readings-screen": lambda: readings_table.table(["results/readings_screen"]),
    "readings-table": lambda: readings_table.table(["results/readings"]),
    "forum-table": forum_table,
}


def render(text):
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {name} -->\n)(?:.*?\n)?(<!-- /{name} -->)", re.S)
        text = pattern.sub(lambda m: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main():
    path = os.path.join(ROOT, "README.md")
    text = open(path).read()
    new = render(text)
    if "--check" in sys.argv:
        if new != text:
            print("README.md is out of date: run python benchmarks/readme_tables.py", file=sys.stderr)
            return 1
        return 0
    with open(path, "w") as f:
        f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
