"""examples/pytorch_check.py --forum: a row's trials at another T land in their own
file, which records T; a file of another T or budget is refused with one line, exit 2."""
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "pytorch_check.py")


def forum(tmp_path, *args):
    rows = [] if "--rows" in args else ["--rows", "9"]
    return subprocess.run([sys.executable, EXAMPLE, "--forum", *rows, *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def test_a_row_at_another_T_writes_its_own_file_and_refuses_a_mismatch(tmp_path):
    r = forum(tmp_path, "--T", "20", "--sequences", "30")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "results" / "pytorch_forum" / "forum_T20.json"
    saved = json.loads(out.read_text())
    trial = saved["rows"][0]["trials"][0]
    assert saved["T"] == 20 and saved["rows"][0]["row"].startswith("+ gradient clipping")
    assert trial["seed"] == 0 and trial["sequences"] == 30 and not trial["stopped"]
    before = out.read_bytes()
    for args, flag in ((["--T", "30", "--out", str(out)], "--T"), (["--T", "11"], "--T"),
                       (["--T", "20", "--rows", "8-9", "--sequences", "40"], "--sequences")):   # before row 8 trains
        r = forum(tmp_path, *args, "--seeds", "1")
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and flag in r.stderr, r.stderr
        assert out.read_bytes() == before
    assert not (tmp_path / "results" / "pytorch_forum" / "forum.json").exists()


def test_a_flag_of_the_other_mode_is_refused(tmp_path):
    for args, flag in ((["--T", "500"], "--T"), (["--sequences", "9"], "--sequences"), (["--forum", "--data", "x"], "--data")):
        r = subprocess.run([sys.executable, EXAMPLE, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and flag in r.stderr, r.stderr
    assert not os.listdir(tmp_path)


def test_a_file_that_is_not_an_export_is_one_line(tmp_path):
    """--data naming any other file (text, an npz of other arrays): one line, exit 2."""
    main = os.path.join(ROOT, "multiplication_problem.py")
    r = subprocess.run([sys.executable, main, "--max-iters", "2", "--eval-every", "1", "--n-test", "16", "--hidden", "3",
                        "--quiet"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    (tmp_path / "text.npz").write_text("root:x:0:0:root:/root:/bin/bash\n")
    import numpy as np
    np.savez(tmp_path / "other.npz", X=np.zeros(3))
    for name in ("text.npz", "other.npz"):
        r = subprocess.run([sys.executable, EXAMPLE, "--data", name], cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "not a data export" in r.stderr, r.stderr
