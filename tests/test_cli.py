"""The command line: a tiny run end to end, determinism, and bad input."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import multiplication_problem as mp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--max-iters", "30", "--eval-every", "10", "--batch-size", "8", "--n-test", "64", "--quiet"]


def run(args, cwd):
    return subprocess.run([sys.executable, os.path.join(ROOT, "multiplication_problem.py"), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def test_tiny_run_writes_a_loadable_run(tmp_path):
    r = run([*TINY, "--snapshot-every", "10", "--save-dir", "out"], tmp_path)
    assert r.returncode == 0, r.stderr
    cfg, params, history, snaps = mp.load_run(str(tmp_path / "out"))
    for key in ("config", "train_losses", "test_curve", "sequences_seen", "final_test_mse",
                "reached_target", "elapsed_sec", "env"):
        assert key in history
    assert len(history["train_losses"]) == 30 and history["sequences_seen"] == 240
    assert [c[0] for c in history["test_curve"]] == [0, 10, 20, 30]
    assert cfg.max_iters == 30 and cfg.batch_size == 8
    mse, _ = mp.evaluate(cfg, params, mp.make_test_set(cfg))
    assert mse[0] == pytest.approx(history["final_test_mse"], rel=1e-12)
    assert list(snaps[0]) == [0, 10, 20, 30]
    assert not [f for f in os.listdir(tmp_path / "out") if f.endswith(".tmp")]


def test_same_seed_gives_bit_identical_weights(tmp_path):
    for d in ("a", "b"):
        assert run([*TINY, "--seed", "3", "--save-dir", d], tmp_path).returncode == 0
    a, b = np.load(tmp_path / "a" / "weights.npz"), np.load(tmp_path / "b" / "weights.npz")
    assert set(a.files) == set(b.files) == {"Wx", "Wh", "b", "wy", "by"}
    for k in a.files:
        assert np.array_equal(a[k], b[k])
    c = run([*TINY, "--seed", "4", "--save-dir", "c"], tmp_path)
    assert not np.array_equal(np.load(tmp_path / "c" / "weights.npz")["Wh"], a["Wh"])


def test_sweep_writes_sweep_json_equal_to_single_runs(tmp_path):
    assert run([*TINY, "--seeds", "2,5", "--workers", "2", "--save-dir", "s"], tmp_path).returncode == 0
    assert run([*TINY, "--seed", "5", "--save-dir", "one"], tmp_path).returncode == 0
    sweep = json.loads((tmp_path / "s" / "sweep.json").read_text())
    one = json.loads((tmp_path / "one" / "history.json").read_text())
    assert [t["seed"] for t in sweep["trials"]] == [2, 5]
    assert sweep["trials"][1]["test_curve"] == one["test_curve"]
    w = np.load(tmp_path / "s" / "sweep_weights.npz")
    assert np.array_equal(w["Wh"][1], np.load(tmp_path / "one" / "weights.npz")["Wh"])


def test_save_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "out").write_text("keep me")
    r = run([*TINY, "--save-dir", "out"], tmp_path)
    assert r.returncode == 2 and "--save-dir" in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "out").read_text() == "keep me"


def test_snapshots_thin_out_to_a_bounded_evenly_spaced_set():
    cfg = mp.Config(max_iters=450, eval_every=1000, batch_size=4, n_test=32, quiet=True,
                    target_test_mse=1e-9, hidden=2)
    its = [s[0] for s in mp.train(cfg, [0], log=lambda s: None)["snapshots"]]
    assert mp.SNAPSHOTS <= len(its) <= 2 * mp.SNAPSHOTS + 1
    assert its[0] == 0 and its[-1] == 450
    assert len(set(np.diff(its[:-1]))) == 1            # evenly spaced (the final one may be closer)


@pytest.mark.parametrize("args,flag", [
    (["--hidden", "8", "--paper"], "--hidden"),
    (["--forget-bias", "5", "--cell", "lstm97"], "--forget-bias"),
    (["--no-forget-gate", "--cell", "lstm97"], "--no-forget-gate"),
    (["--gradient", "truncated"], "--gradient"),
    (["--blocks", "3"], "--blocks"),
    (["--cells-per-block", "1"], "--cells-per-block"),
    (["--squash", "caption"], "--squash"),
    (["--out-gate-biases"], "--out-gate-biases"),
    (["--output-reads", "previous"], "--output-reads"),
    (["--error-factor", "2"], "--error-factor"),
    (["--error-factor", "2", "--cell", "lstm97", "--optimizer", "rmsprop"], "--error-factor"),
    (["--paper", "--cell", "lstm"], "--cell"),
    (["--chrono", "--paper"], "--chrono"),
    (["--gradient", "full"], "--gradient"),                    # the other cell's option at its default value
    (["--hidden", "16", "--paper"], "--hidden"),
    (["--paper", "--task", "adding", "--n-seq", "13"], "--n-seq"),
    (["--n-seq", "13"], "--n-seq"),                            # the reference task stops at its test MSE
    (["--chrono", "--forget-bias", "3"], "--forget-bias"),
    (["--chrono-T", "50"], "--chrono-T"),
    (["--chrono", "--chrono-T", "2"], "--chrono-T"),
    (["--chrono-T", "0"], "--chrono-T"),
    (["--chrono", "--no-forget-gate"], "--chrono"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_an_option_of_the_other_cell_or_optimizer_is_refused(tmp_path, args, flag):
    r = run([*TINY, *args, "--save-dir", "x"], tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and flag in r.stderr, r.stderr
    assert not (tmp_path / "x").exists()


def test_the_other_cells_fields_do_not_tell_runs_apart():
    a = mp.paper_config("adding")
    assert mp.same_settings(a, mp.dataclasses.replace(a, hidden=8, forget_bias=1.0))
    assert not mp.same_settings(a, mp.dataclasses.replace(a, squash="caption"))
    b = mp.Config()
    assert mp.same_settings(b, mp.dataclasses.replace(b, blocks=3, gradient="truncated"))
    assert not mp.same_settings(b, mp.dataclasses.replace(b, hidden=8))
