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


@pytest.mark.parametrize("T, budget", [(100, 300)])
def test_the_recipe_is_row_9_step_for_step(T, budget):
    """Same sequences, weights and errors: the same test MSE and wrong count
    after 300 updates at T = 100."""
    recipe, check = load("nn_lstm_recipe"), load("pytorch_check")
    torch.set_num_threads(1)
    net, seen, stopped = recipe.train(seed=1, T=T, budget=budget)
    mse, wrong, _ = recipe.test_error(net, T)
    test = check.mp.make_test_set(check.mp.paper_config("adding", T=T))
    row9 = check.forum_trial(check.FORUM[8], budget, test, seed=1, T=T)
    assert check.FORUM[8][0].startswith("+ gradient clipping")
    assert (seen, stopped, mse, wrong) == (row9["sequences"], row9["stopped"], row9["test_mse"], row9["test_wrong"])
    assert not stopped


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
    assert block.startswith("```python\nclass AddingLSTM") and block.endswith("return net, budget, False\n```")
    assert block[len("```python\n"):-len("```")] in code
    with open(os.path.join(ROOT, "docs", "pytorch.md")) as f:
        assert block in f.read()


def test_bad_input_is_one_line_and_exit_2():
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, "nn_lstm_recipe.py"), "--T", "5"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--T" in r.stderr, r.stderr
