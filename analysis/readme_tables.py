"""The generated blocks of README.md and docs/*.md, between <!-- name --> and
<!-- /name --> markers: the flag table from the trainer's parser, the result
tables from results/, the nn.LSTM recipe's code from examples/.

Every file README.md and docs/*.md is scanned, and every entry of SECTIONS is
rendered wherever its markers appear (a block may live in several files).
Every entry must appear in at least one file, so a block cannot silently
vanish when text moves between pages; a closing marker of a name that is not
in SECTIONS, or a marker without its partner, is an error too.

    python analysis/readme_tables.py           # rewrite the blocks in every file that holds one
    python analysis/readme_tables.py --check   # exit 1 naming each out-of-date file and each
                                                 # block found in no file (a test runs this)
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ablation_table  # noqa: E402
import forum_table as forum  # noqa: E402
import multiplication_problem as mp  # noqa: E402
import network_state  # noqa: E402
import paper_table  # noqa: E402
import readings_table  # noqa: E402
import screen_table  # noqa: E402



def flag_table():
    rows = ["| flag | meaning |", "|---|---|"]
    for action in mp.build_parser()._actions:
        if action.option_strings and action.dest != "help":
            flag = action.option_strings[0] + (f" {{{','.join(map(str, action.choices))}}}" if action.choices else "")
            rows.append(f"| `{flag}` | {' '.join(action.help.replace('%%', '%').replace('%(default)s', str(action.default)).split())} |")
    return "\n".join(rows)


def forum_table():
    return forum.forum_table(forum.load_forum(forum.FORUM_JSON))


def nn_lstm_recipe():
    """The recipe's code in examples/nn_lstm_recipe.py, between its '# recipe' and '# /recipe' lines."""
    with open(os.path.join(ROOT, "examples", "nn_lstm_recipe.py")) as f:
        code = f.read()
    return "```python\n" + code.split("# recipe\n", 1)[1].split("# /recipe\n", 1)[0] + "```"


def nn_lstm_chrono():
    """The chrono recipe's nn.LSTM trials, from the output its commands printed
    (results/pytorch_forum/nn_lstm_chrono_T*.txt, one line per trial)."""
    import re
    line = re.compile(r"seed (\d+), T = (\d+): (stopped after|not stopped within) ([\d,]+) sequences .*?; "
                      r"test MSE [\d.]+, (\d+) of (\d+) test sequences wrong; (\d+) s")
    rows = ["| T | trials stopped | sequences to the paper's stop | test wrong of 2560 | seconds per trial |",
            "|---|---|---|---|---|"]
    paths = glob.glob(os.path.join(ROOT, "results", "pytorch_forum", "nn_lstm_chrono_T*.txt"))
    for path in sorted(paths, key=lambda p: int(re.search(r"_T(\d+)", p).group(1))):
        with open(path) as f:
            trials = [m.groups() for m in map(line.match, f) if m]
        if not trials:
            raise ValueError(f"{path}: no trial line")
        stopped = [t for t in trials if t[2] == "stopped after"]
        rows.append(f"| {trials[0][1]} | {len(stopped)}/{len(trials)} | {', '.join(t[3] for t in stopped) or '-'} | "
                    f"{', '.join(t[4] for t in trials)} | {', '.join(t[6] for t in trials)} |")
    return "\n".join(rows)


SECTIONS = {
    "flags": flag_table,
    "paper-glance": paper_table.glance,
    "paper-table": paper_table.table,
    "leaving-chance": lambda: network_state.leaving_chance_table(os.path.join(ROOT, "results")),
    "ablation-reference-table": ablation_table.reference_table,
    "ablation-paper-table": ablation_table.paper_table,
    "readings-screen": lambda: readings_table.table(["results/readings_screen"]),
    "readings-table": lambda: readings_table.table(["results/readings"]),
    "forum-table": forum_table,
    "nn-lstm-recipe": nn_lstm_recipe,
    "nn-lstm-chrono": nn_lstm_chrono,
    "screen-T500": screen_table.table,
    "forget-gate-table": lambda: paper_table.table("forget_gate/*"),
    "lag-table": paper_table.lag_table,
    "forum-table-T500": lambda: forum.forum_table(forum.load_forum(forum.FORUM_JSON.replace(".json", "_T500.json")),
                                                  gaps=False),
}


def files(root=ROOT):
    """The files that may hold generated blocks: README.md, then docs/*.md."""
    return [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md")))


def render(text, made=None):
    """-> (text with every block of SECTIONS re-rendered, names of the blocks
    found, marker problems). `made` caches each block's text across files."""
    made = {} if made is None else made
    found, problems = set(), []
    for name, make in SECTIONS.items():
        opening, closing = f"<!-- {name} -->", f"<!-- /{name} -->"
        pattern = re.compile(rf"({re.escape(opening)}\n)(?:.*?\n)?({re.escape(closing)})", re.S)
        n = len(pattern.findall(text))
        if n:
            found.add(name)
            if name not in made:
                made[name] = SECTIONS[name]()
            text = pattern.sub(lambda m: m.group(1) + made[name] + "\n" + m.group(2), text)
        if text.count(opening) != n or text.count(closing) != n:
            problems.append(f"{opening} and {closing} do not pair up")
    for name in re.findall(r"<!-- /([\w-]+) -->", text):
        if name not in SECTIONS:
            problems.append(f"<!-- /{name} --> closes a block that analysis/readme_tables.py does not know")
    return text, found, problems


def status(paths, made=None):
    """-> ({path: new text} of the files whose blocks are out of date,
    names of SECTIONS found in no file, [(path, problem)])."""
    made = {} if made is None else made
    stale, found, problems = {}, set(), []
    for path in paths:
        with open(path) as f:
            text = f.read()
        new, names, trouble = render(text, made)
        found |= names
        problems += [(path, p) for p in trouble]
        if new != text:
            stale[path] = new
    return stale, [name for name in SECTIONS if name not in found], problems


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    paths = files()
    stale, missing, problems = status(paths)
    rel = lambda p: os.path.relpath(p, ROOT)
    for name in missing:
        print(f"<!-- {name} --> ... <!-- /{name} --> is in no file ({', '.join(map(rel, paths))}): "
              "the block was lost; put its markers back where it belongs", file=sys.stderr)
    for path, problem in problems:
        print(f"{rel(path)}: {problem}", file=sys.stderr)
    if "--check" in argv:
        for path in stale:
            print(f"{rel(path)} is out of date: run python analysis/readme_tables.py", file=sys.stderr)
        return 1 if stale or missing or problems else 0
    for path, text in stale.items():
        with open(path, "w") as f:
            f.write(text)
        print(f"rewrote {rel(path)}")
    return 1 if missing or problems else 0


if __name__ == "__main__":
    sys.exit(main())
