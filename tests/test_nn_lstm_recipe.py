"""examples/nn_lstm_recipe.py is row 9 of the forum table (the trials of
examples/pytorch_check.py --forum --rows 9), step for step, and the recipe
docs/pytorch.md shows is the file's."""
import collections
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_recipe_is_row_9_step_for_step(monkeypatch):
    """The same errors before each update, in the same order, and the same
    network after 300 updates (its test MSE and wrong count); the clipping acts."""
    recipe, check = load("nn_lstm_recipe"), load("pytorch_check")
    assert check.FORUM[8][0].startswith("+ gradient clipping")
    torch.set_num_threads(1)
    norms, clip = [], torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda *a, **k: norms.append(clip(*a, **k)) or norms[-1])
    net, seen, latest = recipe.train(seed=1, T=100, budget=300)
    recipe_norms, norms[:] = list(norms), []
    mse, wrong, _ = recipe.test_error(net, 100)
    test = check.mp.make_test_set(check.mp.paper_config("adding", T=100))
    row9 = check.forum_trial(check.FORUM[8], 300, test, seed=1, T=100)
    total_sq = 0.0
    for e in latest:                                     # forum_trial's running sum, in its order
        total_sq += e * e
    assert (seen, len(latest), total_sq / seen) == (row9["sequences"], 300, row9["forum_running_mse"])
    assert sum(e <= 0.04 for e in latest) == row9["paper_correct_of_2000"] > 0
    assert (mse, wrong) == (row9["test_mse"], row9["test_wrong"])
    assert recipe_norms == norms and len(norms) == 300 and max(norms) > 1


def test_the_recipes_stop_is_the_trainers():
    """paper_stop against multiplication_problem.paper_stop_points on windows at
    and around the edges: a full window at, just above and well below 0.04, and
    one sequence short of a full window."""
    recipe, mp = load("nn_lstm_recipe"), load("pytorch_check").mp
    rng = np.random.default_rng(0)
    below = rng.uniform(0, 0.04, 2000)
    windows = [below, np.r_[below[:-1], 0.04], np.r_[below[:-1], np.nextafter(0.04, 1)], below / 10,
               np.r_[below[:-1], 0.5], np.full(2000, 0.04)]
    for w in windows:
        n_wrong = np.array([(w > mp.CORRECT_ABS_ERR).sum()])
        trainer = mp.paper_stop_points("adding", w[None], n_wrong, ())["all_correct"][0]
        assert recipe.paper_stop(collections.deque(w, maxlen=2000)) == trainer
    assert [recipe.paper_stop(w) for w in windows] == [True, True, False, True, False, True]
    assert not recipe.paper_stop(collections.deque(below[:1999], maxlen=2000))


def test_the_docs_show_the_files_recipe():
    sys.path.insert(0, os.path.join(ROOT, "analysis"))
    import readme_tables
    with open(os.path.join(EXAMPLES, "nn_lstm_recipe.py")) as f:
        code = f.read()
    block = readme_tables.nn_lstm_recipe()
    assert block.startswith("```python\nclass AddingLSTM") and block.endswith("return net, seen, latest\n```")
    assert block[len("```python\n"):-len("```")] in code
    with open(os.path.join(ROOT, "docs", "pytorch.md")) as f:
        assert block in f.read()


def test_bad_input_is_one_line_and_exit_2():
    for args, flag in ((["--T", "5"], "--T"), (["--T", "x"], "--T"), (["--budget", "0"], "--budget"), (["--nope"], "--nope")):
        r = subprocess.run([sys.executable, os.path.join(EXAMPLES, "nn_lstm_recipe.py"), *args],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and flag in r.stderr, r.stderr


def test_chrono_in_torch_sets_the_input_and_forget_biases_only():
    """chrono_: forget-gate biases log(u), u in [1, T_max - 1], input-gate biases their
    negatives, all in bias_ih (bias_hh zero there); the g and o quarters as torch drew them."""
    recipe = load("nn_lstm_recipe")
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(2, 512)
    before = {n: p.detach().clone() for n, p in lstm.named_parameters()}
    recipe.chrono_(lstm, 550)
    H, ih, hh = 512, lstm.bias_ih_l0.detach(), lstm.bias_hh_l0.detach()
    u = torch.exp(ih[H:2 * H]).numpy()
    assert 1 <= u.min() and u.max() <= 549 and abs(np.median(u) - 275) < 40
    assert torch.equal(ih[:H], -ih[H:2 * H]) and not hh[:2 * H].any()
    assert torch.equal(ih[2 * H:], before["bias_ih_l0"][2 * H:]) and torch.equal(hh[2 * H:], before["bias_hh_l0"][2 * H:])
