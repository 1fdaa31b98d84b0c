"""examples/lstm97_torch.py: the 1997 network in PyTorch equals this project's,
forward and both gradients; bad input is one line, exit 2."""
import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

import multiplication_problem as mp

torch = pytest.importorskip("torch")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))
import lstm97_torch  # noqa: E402

EXAMPLE = os.path.join(ROOT, "examples", "lstm97_torch.py")


def run(args, cwd):
    return subprocess.run([sys.executable, EXAMPLE, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("task,readings", [
    ("adding", {}),
    ("adding", {"squash": "caption", "output_error": "plain"}),
    ("multiplication", {"output_reads": "previous", "out_gate_biases": True}),
    ("adding", {"error_factor": 2.0, "blocks": 3, "cells_per_block": 1}),
    ("multiplication", {"output": "linear", "blocks": 2, "cells_per_block": 3}),
], ids=["body", "plain-caption", "previous-outgate", "factor2-3x1", "linear-2x3"])
def test_module_equals_numpy_forward_and_both_gradients(task, readings):
    cfg = mp.paper_config(task, T=16, n_test=24, **readings)
    params = mp.init_params(cfg, [5])
    params = {k: v * 4 for k, v in params.items()}              # larger than at the start: gates open and shut
    X, L, y = mp.make_test_set(cfg)
    X, L, y = X[:, None], L[None], y[None]
    weights = {k: v[0] for k, v in params.items()}
    for truncated in (True, False):
        ours_y, ours = lstm97_torch.numpy_gradients(cfg, params, X, L, y, truncated)
        theirs_y, theirs = lstm97_torch.torch_gradients(cfg, weights, X, L, y, truncated)
        assert lstm97_torch.relative(theirs_y, ours_y) < 1e-13
        for k in lstm97_torch.PARAMS:
            assert lstm97_torch.relative(theirs[k], ours[k]) < lstm97_torch.LIMIT, (truncated, k)
    # the truncated gradient is not the full one (else the test could not tell them apart)
    _, full = lstm97_torch.numpy_gradients(cfg, params, X, L, y, False)
    _, trunc = lstm97_torch.numpy_gradients(cfg, params, X, L, y, True)
    assert lstm97_torch.relative(trunc["Wr"], full["Wr"]) > 1e-3


def test_93_weights_for_two_blocks_of_two_cells():
    net = lstm97_torch.LSTM1997()
    assert sum(p.numel() for p in net.parameters()) == 93


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    common = ["--max-iters", "200", "--n-test", "48", "--quiet"]
    for args in (["--paper", "--task", "adding", "--T", "20", "--save-dir", "r97"],
                 ["--paper", "--T", "20", "--seeds", "0,3", "--workers", "1", "--save-dir", "s97"],
                 ["--max-iters", "20", "--batch-size", "8", "--save-dir", "lstm"]):
        r = subprocess.run([sys.executable, os.path.join(ROOT, "multiplication_problem.py"), *common, *args],
                           cwd=d, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    return d


def test_check_a_run_and_a_sweeps_trial(tiny_runs):
    for args in (["--check", "r97"], ["--check", "s97", "--trial", "3"]):
        r = run([*args, "--n-sequences", "16"], tiny_runs)
        assert r.returncode == 0, r.stderr
        assert "truncated gradient" in r.stdout and "full gradient" in r.stdout and "equal" in r.stdout
    assert "trial seed 3" in r.stdout


@pytest.mark.results
def test_check_a_committed_adam_run():
    """Adam minimises the batch's mean squared error (twice the paper's loss): the module's loss says so."""
    r = run(["--check", os.path.join(ROOT, "results", "ablations_paper", "lstm97_truncated_adam"),
             "--n-sequences", "8"], ROOT)
    assert r.returncode == 0 and "equal" in r.stdout, r.stdout + r.stderr


def test_train_reports_both_frameworks(tiny_runs):
    r = run(["--train", "--task", "adding", "--T", "20", "--budget", "30"], tiny_runs)
    assert r.returncode == 0, r.stderr
    assert "NumPy" in r.stdout and "torch" in r.stdout and "not within 30 sequences" in r.stdout


@pytest.mark.parametrize("args,flag", [
    (["--check", "missing"], "missing"),
    (["--check", "lstm"], "--cell lstm"),
    (["--check", "foreign"], "foreign"),
    (["--check", "s97", "--trial", "7"], "seed 7"),
    ([], "--check"),
    (["--check", "r97", "--n-sequences", "0"], "--n-sequences"),
    (["--train", "--optimizer", "adam"], "--train"),
    (["--train", "--clip", "1"], "--clip"),
    (["--train", "--seeds", "0-2"], "--seeds"),
    (["--train", "--dtype", "float32"], "--dtype"),
], ids=["missing", "other-cell", "foreign", "no-trial", "nothing", "n", "adam", "clip", "seeds", "dtype"])
def test_bad_input_is_one_line_exit_2(tiny_runs, args, flag):
    foreign = tiny_runs / "foreign"
    foreign.mkdir(exist_ok=True)
    (foreign / "history.json").write_text("{}")
    (foreign / "weights.npz").write_bytes(b"not a zip")
    r = run(args, tiny_runs)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and flag in r.stderr, r.stderr
