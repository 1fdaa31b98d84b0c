"""Interrupted, resumed, fed garbage: nothing is lost, nothing is torn."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import multiplication_problem as mp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN, VIZ, GIF = "multiplication_problem.py", "visualize_multiplication_problem.py", "make_multiplication_problem_gif.py"
TINY = ["--max-iters", "400", "--eval-every", "25", "--batch-size", "8", "--n-test", "64",
        "--snapshot-every", "10", "--quiet"]
# long enough that a signal sent early always lands during training, even on a fast machine
LONG = ["--max-iters", "4000", "--eval-every", "250", "--batch-size", "8", "--n-test", "64",
        "--snapshot-every", "10", "--hidden", "4", "--quiet"]


def cmd(script, args):
    return [sys.executable, os.path.join(ROOT, script), *args]


def run(script, args, cwd):
    return subprocess.run(cmd(script, args), cwd=cwd, capture_output=True, text=True, timeout=120)


def same_run(a, b):
    """Weights, snapshots and history agree to the bit (but for wall time and argv)."""
    for f in ("weights.npz", "snapshots.npz"):
        x, y = np.load(a / f), np.load(b / f)
        assert x.files == y.files and all(np.array_equal(x[k], y[k]) for k in x.files), f
    ha, hb = (json.loads((d / "history.json").read_text()) for d in (a, b))
    for h in (ha, hb):
        for k in ("elapsed_sec", "env", "stretches"):
            h.pop(k)
        h["config"].pop("checkpoint_every")           # when to checkpoint is not a training setting
    assert ha == hb


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("full")
    assert run(MAIN, [*LONG, "--save-dir", "run"], d).returncode == 0
    return d / "run"


def interrupt_early(cwd):
    """A LONG run stopped by SIGINT soon after its first checkpoint."""
    p = subprocess.Popen(cmd(MAIN, [*LONG, "--save-dir", "run", "--checkpoint-every", "20"]), cwd=cwd,
                         stderr=subprocess.PIPE)
    wait_for(cwd / "run" / "checkpoint.npz", p)
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=60)
    assert p.returncode == 130


def wait_for(path, proc, timeout=60):
    t0 = time.time()
    while not path.exists():
        assert proc.poll() is None and time.time() - t0 < timeout, "training ended before the kill"
        time.sleep(0.01)


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.4])
def test_sigint_then_resume_equals_an_uninterrupted_run(reference_run, tmp_path, delay):
    p = subprocess.Popen(cmd(MAIN, [*LONG, "--save-dir", "run", "--checkpoint-every", "50"]), cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(tmp_path / "run" / "checkpoint.npz", p)       # training is under way
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "--resume" in err and "Traceback" not in err
    assert (tmp_path / "run" / "checkpoint.npz").exists()
    assert json.loads((tmp_path / "run" / "history.json").read_text())["interrupted"] is True
    r = run(MAIN, [*LONG, "--save-dir", "run", "--checkpoint-every", "50", "--resume"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "run" / "checkpoint.npz").exists()
    same_run(reference_run, tmp_path / "run")


def test_sigkill_loses_at_most_the_checkpoint_interval(reference_run, tmp_path):
    p = subprocess.Popen(cmd(MAIN, [*LONG, "--save-dir", "run", "--checkpoint-every", "7"]), cwd=tmp_path)
    wait_for(tmp_path / "run" / "checkpoint.npz", p)
    time.sleep(0.2)
    p.kill()
    p.wait()
    _, st = mp.load_checkpoint(str(tmp_path / "run" / "checkpoint.npz"))
    assert st.it % 7 == 0 and 0 < st.it
    r = run(MAIN, [*LONG, "--save-dir", "run", "--checkpoint-every", "7", "--resume"], tmp_path)
    assert r.returncode == 0, r.stderr
    same_run(reference_run, tmp_path / "run")


def test_sweep_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    args = ["--paper", "--T", "20", "--seeds", "0-3", "--workers", "2", "--max-iters", "6000",
            "--n-test", "64", "--eval-every", "100", "--quiet"]
    assert run(MAIN, [*args, "--save-dir", "a"], tmp_path).returncode == 0
    p = subprocess.Popen(cmd(MAIN, [*args, "--save-dir", "b", "--checkpoint-every", "100"]),
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(tmp_path / "b" / "checkpoint-seeds-0-1.npz", p)
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=60)
    assert p.returncode == 143
    r = run(MAIN, [*args, "--save-dir", "b", "--checkpoint-every", "100", "--resume"], tmp_path)
    assert r.returncode == 0, r.stderr
    a, b = (json.loads((tmp_path / d / "sweep.json").read_text()) for d in "ab")
    assert a["trials"] == b["trials"]
    wa, wb = np.load(tmp_path / "a" / "sweep_weights.npz"), np.load(tmp_path / "b" / "sweep_weights.npz")
    assert all(np.array_equal(wa[k], wb[k]) for k in wa.files)


def test_nan_weight_stops_only_that_trial():
    cfg = mp.Config(max_iters=40, eval_every=10, batch_size=8, n_test=64, quiet=True, snapshot_every=0)
    st = mp.new_state(cfg, [0, 1, 2])
    st.params["Wh"][1, 0, 0] = np.nan
    out = mp.train(cfg, [0, 1, 2], log=lambda s: None, state=st)
    r = out["results"]
    assert r[1]["fault"].startswith("non-finite loss at iteration 1") and r[1]["iterations"] == 0
    assert r[0]["fault"] is None and r[2]["fault"] is None
    alone = mp.train(cfg, [2], log=lambda s: None)
    assert np.array_equal(alone["params"]["Wh"][0], out["params"]["Wh"][2])
    assert all(np.isfinite(v[[0, 2]]).all() for v in out["params"].values())


def test_resume_with_other_settings_is_refused(tmp_path):
    interrupt_early(tmp_path)
    before = {f: (tmp_path / "run" / f).read_bytes() for f in os.listdir(tmp_path / "run")}
    r = run(MAIN, [*LONG, "--save-dir", "run", "--resume", "--lr", "0.01"], tmp_path)
    assert r.returncode == 2 and "--lr" in r.stderr and "Traceback" not in r.stderr
    assert {f: (tmp_path / "run" / f).read_bytes() for f in os.listdir(tmp_path / "run")} == before


def corrupt(path, how):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(b"not what it should be" * 10)


@pytest.mark.parametrize("how", ["truncated", "empty", "foreign"])
@pytest.mark.parametrize("name", ["weights.npz", "history.json", "snapshots.npz"])
def test_corrupt_file_in_every_position_of_the_run_folder(reference_run, tmp_path, name, how):
    shutil.copytree(reference_run, tmp_path / "run")
    corrupt(tmp_path / "run" / name, how)
    before = {f: (tmp_path / "run" / f).read_bytes() for f in os.listdir(tmp_path / "run")}
    for script, extra in ((VIZ, ["--out-dir", "viz"]), (GIF, ["--out", "a.gif"])):
        r = run(script, [*LONG, *extra], tmp_path)
        assert r.returncode == 2, (script, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == ["run"]
    assert {f: (tmp_path / "run" / f).read_bytes() for f in os.listdir(tmp_path / "run")} == before


@pytest.mark.parametrize("how", ["truncated", "foreign"])
def test_corrupt_checkpoint_is_refused_on_resume(tmp_path, how):
    interrupt_early(tmp_path)
    corrupt(tmp_path / "run" / "checkpoint.npz", how)
    r = run(MAIN, [*LONG, "--save-dir", "run", "--resume"], tmp_path)
    assert r.returncode == 2 and "checkpoint" in r.stderr and "Traceback" not in r.stderr


# every bad input: (script, arguments); each must print one line, exit 2 and write nothing
BAD = [(MAIN, a) for a in [
    ["--T-min", "5"], ["--T-min", "40", "--T-max", "30"], ["--eval-T", "3"], ["--hidden", "0"],
    ["--lr", "0"], ["--lr", "-1"], ["--lr", "nan"], ["--lr", "inf"], ["--batch-size", "0"],
    ["--max-iters", "0"], ["--max-iters", "1.5"], ["--target-test-mse", "0"], ["--task", "division"],
    ["--seed", "x"], ["--seed", "-1"], ["--seeds", "3-1"], ["--seeds", "a,b"], ["--seeds", "1,1"],
    ["--seeds", ""], ["--workers", "0"], ["--n-seq", "0"], ["--n-seq", "abc"], ["--n-seq", "2001"],
    ["--paper", "--T", "8"], ["--T", "100"], ["--clip", "-1"], ["--eval-every", "0"], ["--cell", "gru"],
    ["--unknown-flag"], ["--checkpoint-every", "-5"], ["--resume"], ["--init-scale", "-0.1"],
    ["--dtype", "float16"], ["--forget-bias", "nan"], ["--blocks", "0"], ["--n-test", "0"],
]] + [(VIZ, a) for a in [
    ["--hidden", "0"], ["--seeds", "3-1"], ["--run-dir"], ["--lr", "x"], ["--T-min", "5"],
]] + [(GIF, a) for a in [
    ["--n-frames", "1"], ["--n-frames", "x"], ["--fps", "0"], ["--snapshot-every", "0"],
    ["--seeds", "0,1"], ["--max-iters", "0"],
]]


@pytest.mark.parametrize("script,args", BAD, ids=[f"{s.split('_')[0]}:{' '.join(a)}" for s, a in BAD])
def test_bad_input_is_one_line_exit_2_nothing_written(script, args, tmp_path):
    r = run(script, [*args, "--quiet"] if script != MAIN else [*args, "--save-dir", "out"], tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0], r.stderr
    assert os.listdir(tmp_path) == []


def test_save_dir_that_is_a_file_and_unwritable_dir(tmp_path):
    (tmp_path / "f").write_text("keep")
    r = run(MAIN, [*TINY, "--save-dir", "f"], tmp_path)
    assert r.returncode == 2 and "--save-dir" in r.stderr and (tmp_path / "f").read_text() == "keep"
    if os.geteuid() == 0:                      # root writes anywhere permissions allow; not into /proc
        unwritable = "/proc/no-such-run/run"
    else:
        (tmp_path / "ro").mkdir(mode=0o500)
        unwritable = "ro/run"
    r = run(MAIN, [*TINY, "--save-dir", unwritable], tmp_path)
    assert r.returncode == 2 and "not writable" in r.stderr and "Traceback" not in r.stderr, r.stderr
