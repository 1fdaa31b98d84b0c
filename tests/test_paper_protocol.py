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
