"""The paper's protocol: the fast 1997 path against results recorded by the
code before it, and the stopping rules on their own."""
import os

import numpy as np
import pytest

import multiplication_problem as mp

GOLDEN = os.path.join(os.path.dirname(__file__), "data", "paper_T30_400_steps.npz")


@pytest.mark.parametrize("task", ["adding", "multiplication"])
def test_training_matches_the_results_recorded_before_the_fast_path(task):
    """tests/data/paper_T30_400_steps.npz was written by commit 4fd107e (the
    1997 forward pass in trial-major layout, one BLAS matmul per step): 400
    on-line steps of 3 trials at T = 30. The unit-major path sums in another
    order, so the weights agree to rounding, not to the bit."""
    cfg = mp.paper_config(task, T=30, max_iters=400, eval_every=200, quiet=True, checkpoint_every=0)
    out = mp.train(cfg, [0, 1, 2], log=lambda s: None)
    with np.load(GOLDEN) as g:
        for k, v in out["params"].items():
            np.testing.assert_allclose(v, g[f"{task}.{k}"], rtol=0, atol=1e-12, err_msg=k)
            assert np.abs(v - mp.init_params(cfg, [0, 1, 2])[k]).max() > 1e-3, "the run must have learned"
        np.testing.assert_allclose([r["final_test_mse"] for r in out["results"]], g[f"{task}.test_mse"],
                                   rtol=1e-9, atol=0)


def brute_force_wrong(stream, K):
    """Wrong among each trial's last WINDOW sequences; slots never filled count as wrong."""
    last = stream[:, -mp.WINDOW:]
    return (last > mp.CORRECT_ABS_ERR).sum(1) + (mp.WINDOW - last.shape[1])


@pytest.mark.parametrize("B", [1, 7, 600, 2000])
def test_window_count_equals_a_recount_of_the_last_2000(B):
    rng = np.random.default_rng(B)
    K = 2
    recent, n_wrong = np.full((K, mp.WINDOW), np.inf), np.full(K, mp.WINDOW)
    stream = np.zeros((K, 0))
    active = np.ones(K, bool)
    for i in range(6000 // B + 1):
        err = rng.uniform(0, 0.1, (K, B)) * (rng.random((K, 1)) < 0.7)   # some batches all correct
        mp.window_push(recent, n_wrong, i * B, err, active)
        stream = np.concatenate([stream, err], axis=1)
        np.testing.assert_array_equal(n_wrong, brute_force_wrong(stream, K))
        np.testing.assert_array_equal(np.sort(recent[:, np.isfinite(recent[0])]),
                                      np.sort(stream[:, -mp.WINDOW:]))
    frozen = recent.copy(), n_wrong.copy()
    mp.window_push(recent, n_wrong, (i + 1) * B, np.ones((K, B)), np.array([False, True]))
    assert np.array_equal(recent[0], frozen[0][0]) and n_wrong[0] == frozen[1][0], "a stopped trial's window stays"
    stream = np.concatenate([stream, np.ones((K, B))], axis=1)
    assert n_wrong[1] == brute_force_wrong(stream, K)[1]


def test_stop_points_at_their_boundaries():
    w = np.full((4, mp.WINDOW), 0.01)
    w[1, :139] = 0.5                      # 139 wrong: below 140, not below 13
    w[2, :140] = 0.5                      # 140 wrong: not *fewer* than 140
    w[3, :12] = 0.05                      # 12 wrong: both points
    n_wrong = (w > mp.CORRECT_ABS_ERR).sum(1)
    pts = mp.paper_stop_points("multiplication", w, n_wrong, (140, 13))
    assert pts["140"].tolist() == [True, True, False, True]
    assert pts["13"].tolist() == [True, False, False, True]
    a = np.full((3, mp.WINDOW), 0.039)
    a[1, 0] = 0.041                       # one wrong sequence blocks the adding stop
    a[2] = 0.0
    pts = mp.paper_stop_points("adding", a, (a > mp.CORRECT_ABS_ERR).sum(1), ())
    assert pts["all_correct"].tolist() == [True, False, True]


def test_batch_above_the_window_is_refused(capsys):
    code = mp.main(["--paper", "--batch-size", "2001", "--save-dir", "/nonexistent/never"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--batch-size" in err and "2000" in err and len(err.strip().splitlines()) == 1
