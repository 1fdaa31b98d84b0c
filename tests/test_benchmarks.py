"""The benchmark scripts still run against the current API (tiny sizes)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_speed_benchmark_runs_and_prints_its_figures():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_speed.py"), "--iters", "8",
                        "--repeats", "1", "--paper"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("ms/iteration") >= 4 and "paper protocol adding" in r.stdout


def test_every_script_that_trains_keeps_blas_to_one_thread_like_the_trainer():
    """Two BLAS threads per process beside a running job made a 64-cell step 10-30x slower
    (measured 2026-11-30: bench_speed --time-to-target, 99.6 s against 7.3 s): every entry
    point that trains or times sets the trainer's default before NumPy loads."""
    for path in ["multiplication_problem.py", "visualize_multiplication_problem.py", "make_multiplication_problem_gif.py",
                 "benchmarks/bench_speed.py", "benchmarks/bench_memory.py", "benchmarks/weights_over_time.py", "examples/pytorch_check.py",
                 "examples/lstm97_torch.py", "tests/conftest.py"]:
        src = open(os.path.join(ROOT, path)).read()
        loads = [src.find(f"\nimport {m}") for m in ("numpy", "matplotlib", "multiplication_problem")]
        first_numpy = min([i for i in loads if i >= 0], default=len(src))
        assert 0 <= src.find('os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")') < first_numpy, path


@pytest.mark.results
def test_ablation_table_reads_the_saved_sweeps():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "analysis", "ablation_table.py")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("| setting |")
    import glob
    import json
    folders = glob.glob(os.path.join(ROOT, "results", "ablations", "*", "sweep.json"))
    assert len(lines) == 2 + len(folders) >= 10                       # a row per saved run
    s = json.load(open(os.path.join(ROOT, "results", "ablations", "defaults", "sweep.json")))
    assert any(l.startswith(f"| defaults | {s['reached_target']}/{s['n_trials']} | {s['median_sequences']:,.0f} |")
               for l in lines)


@pytest.mark.results
def test_paper_table_reads_the_saved_runs():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "analysis", "paper_table.py")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("| run |")
    import json
    import numpy as np
    s = json.load(open(os.path.join(ROOT, "results", "paper_adding_T500", "sweep.json")))
    seq = np.array([t["stops"]["all_correct"]["sequences"] for t in s["trials"]])
    row = [l for l in lines if l.startswith("| paper_adding_T500 |")]
    assert row == [f"| paper_adding_T500 | all 2000 correct | 10/10 | {seq.mean():,.0f}, {np.median(seq):,.0f} "
                   f"({seq.min():,d} - {seq.max():,d}) " + row[0].split(f"({seq.min():,d} - {seq.max():,d}) ", 1)[1]]
    assert len([l for l in lines if l.startswith("| paper_")]) >= 7


def test_error_analysis_runs_on_a_saved_sweep(tmp_path):
    main = os.path.join(ROOT, "multiplication_problem.py")
    r = subprocess.run([sys.executable, main, "--paper", "--task", "adding", "--T", "20", "--seeds", "0,1",
                        "--workers", "1", "--max-iters", "50", "--n-test", "32", "--quiet",
                        "--save-dir", "s"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, os.path.join(ROOT, "analysis", "error_analysis.py"), "s"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip().splitlines()) == 3 + 2


@pytest.mark.results
def test_every_saved_sweep_is_of_this_schema():
    """No compatibility code reads results: each sweep.json has this version and a
    config with exactly this code's fields."""
    import glob
    import json
    import multiplication_problem as mp
    paths = glob.glob(os.path.join(ROOT, "results", "**", "sweep.json"), recursive=True)
    assert len(paths) > 20
    for path in paths:
        s = json.load(open(path))
        assert s["version"] == mp.RESULTS_VERSION, path
        mp.config_from_dict(s["config"])
        assert s["n_trials"] == len(s["trials"]) and isinstance(s["interrupted"], bool), path


@pytest.mark.results
def test_generated_sections_are_up_to_date_in_readme_and_docs():
    """Every generated block, in README.md and docs/*.md, matches what
    analysis/readme_tables.py renders, and none has gone missing."""
    r = subprocess.run([sys.executable, os.path.join(ROOT, "analysis", "readme_tables.py"), "--check"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_generated_sections_are_found_in_every_file_and_a_lost_one_is_named(tmp_path, monkeypatch):
    sys.path[:0] = [os.path.join(ROOT, "analysis"), os.path.join(ROOT, "benchmarks")]
    import readme_tables
    monkeypatch.setattr(readme_tables, "SECTIONS", {"one": lambda: "1", "two": lambda: "2", "lost": lambda: "x"})
    (tmp_path / "docs").mkdir()
    readme, doc = tmp_path / "README.md", tmp_path / "docs" / "a.md"
    readme.write_text("top\n<!-- one -->\nold\n<!-- /one -->\n")
    doc.write_text("<!-- two -->\n2\n<!-- /two -->\n<!-- one -->\n<!-- /one -->\n")
    assert readme_tables.files(str(tmp_path)) == [str(readme), str(doc)]
    stale, missing, problems = readme_tables.status(readme_tables.files(str(tmp_path)))
    assert stale == {str(readme): "top\n<!-- one -->\n1\n<!-- /one -->\n",
                     str(doc): "<!-- two -->\n2\n<!-- /two -->\n<!-- one -->\n1\n<!-- /one -->\n"}
    assert missing == ["lost"] and problems == []
    doc.write_text("<!-- two -->\n2\n<!-- /two -->\n<!-- lost -->\n<!-- /gone -->\n")
    _, missing, problems = readme_tables.status([str(doc)])
    assert missing == ["one", "lost"]
    assert [p for _, p in problems] == ["<!-- lost --> and <!-- /lost --> do not pair up",
                                        "<!-- /gone --> closes a block that analysis/readme_tables.py does not know"]


@pytest.mark.results
def test_network_state_tells_a_solved_network_from_a_silent_one():
    """On committed runs: the T = 100 networks that stopped answer with the target
    (large output weights, an input gate keyed on the marker); a partial run still
    at chance (T = 500, linear output, stopped for good at 22,785 sequences, so it
    stays silent while the T = 1000 runs leave chance) answers a constant."""
    sys.path[:0] = [os.path.join(ROOT, "analysis"), os.path.join(ROOT, "benchmarks")]
    import network_state
    _, _, stopped, solved = network_state.state(os.path.join(ROOT, "results", "readings",
                                                             "adding_T100_plain_output_error_caption_squash"))
    assert stopped == 10 and solved["corr"] > 0.99 and solved["|w_y|"] > 1.0 and solved["marker->in"] > 5.0
    _, _, stopped, silent = network_state.state(os.path.join(ROOT, "results", "paper_adding_T500_linear_output"))
    assert stopped == 0 and silent["out std"] < 1e-3 and silent["|w_y|"] < 0.05


def test_weights_over_time_trains_in_stretches_exactly_like_one_run():
    sys.path[:0] = [os.path.join(ROOT, "analysis"), os.path.join(ROOT, "benchmarks")]
    import weights_over_time
    import multiplication_problem as mp
    import numpy as np
    rows, _ = weights_over_time.course(20, [0, 1], 200, 100)
    assert [r[0] for r in rows] == [0, 100, 200]
    init = mp.init_params(mp.paper_config("adding", 20), [0, 1])
    assert rows[0][1] == float(np.median(np.abs(init["wy"]).mean(1)))
    cfg = mp.paper_config("adding", 20, max_iters=200, eval_every=100, quiet=True, checkpoint_every=0)
    whole = mp.train(cfg, [0, 1], log=lambda s: None)["params"]
    assert rows[-1][1] == float(np.median(np.abs(whole["wy"]).mean(1)))
    assert rows[-1][2] == float(np.median(np.abs(whole["Wx"][:, 1, 4:6]).max(1)))


def test_weights_over_time_gate_bias_control_reduces_the_initial_drift():
    sys.path[:0] = [os.path.join(ROOT, "analysis"), os.path.join(ROOT, "benchmarks")]
    import weights_over_time
    paper, _ = weights_over_time.course(100, [0, 1], 0, 100)
    closed, _ = weights_over_time.course(100, [0, 1], 0, 100, in_gate_biases=[-6.0, -9.0])
    assert closed[0][1] == paper[0][1]                    # same weights otherwise
    assert closed[0][3] < paper[0][3] / 5                 # |s| at the end: sigma(-6) / sigma(-3) = 0.053


def test_weights_over_time_noiseless_control_silences_only_the_unmarked_values():
    sys.path[:0] = [os.path.join(ROOT, "analysis"), os.path.join(ROOT, "benchmarks")]
    import weights_over_time
    import multiplication_problem as mp
    import numpy as np
    cfg = mp.paper_config("adding", 20)
    plain, quiet = mp.Stream(cfg, mp.rng_for(3, 1)), weights_over_time.NoiselessStream(cfg, mp.rng_for(3, 1))
    for _ in range(300):                                   # past a chunk boundary (256 sequences)
        (X, L, y), (Xq, Lq, yq) = plain.next(), quiet.next()
        marked = X[..., 1] == 1.0
        assert np.array_equal(L, Lq) and np.array_equal(y, yq) and np.array_equal(X[..., 1], Xq[..., 1])
        assert np.array_equal(Xq[..., 0][marked], X[..., 0][marked]) and not Xq[..., 0][~marked].any()
        assert X[..., 0][~marked].any()                    # the paper's stream does carry noise there
    rows, _ = weights_over_time.course(20, [0], 100, 100, noiseless=True)
    noisy, _ = weights_over_time.course(20, [0], 100, 100)
    assert rows[0][1:3] == noisy[0][1:3] and rows[1][1] != noisy[1][1]    # same start, other data


def test_glance_cell_reports_partial_and_missing_runs(tmp_path):
    import json
    sys.path[:0] = [os.path.join(ROOT, "analysis"), os.path.join(ROOT, "benchmarks")]
    import paper_table
    trial = lambda seen, stop=None, wrong=0: {"sequences_seen": seen, "stops": {} if stop is None else {
        "all_correct": {"sequences": stop, "test_wrong": wrong, "test_mse": 1e-5}}}
    trials = [trial(100, 100, wrong=2), trial(300)]
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps({"trials": trials, "interrupted": True, "config": {"task": "adding"}}))
    assert paper_table.cell(str(path), "all_correct") == ("1/2 stopped (partial: 300 sequences per trial so far): "
                                                          "100 sequences (median 100, 100 - 100), 2.0 wrong; "
                                                          "all 2: mean at least 200, median at least 200")
    assert paper_table.cell(str(path), "13") == "0/2 stopped (partial: 300 sequences per trial so far)"
    trials[:0] = [trial(150, 150, wrong=1), trial(400, 400)]
    trials[-1] = trial(400)                                # a budget of 400, spent
    path.write_text(json.dumps({"trials": trials, "interrupted": False, "config": {"task": "adding"},
                                "elapsed_sec": 1.0}))
    assert paper_table.cell(str(path), "all_correct") == ("3/4 stopped (within 400): 217 sequences "
                                                          "(median 150, 100 - 400), 1.0 wrong; "
                                                          "all 4: mean at least 262, median at least 275")
    assert paper_table.rows(str(path))[0].split(" | ")[3] == ("217, 150 (100 - 400); "
                                                             "all 4: mean at least 262, median at least 275")
    trials[-1] = trial(500, 500)                           # every trial stopped: no bound, no budget
    path.write_text(json.dumps({"trials": trials, "interrupted": False, "config": {"task": "adding"}}))
    assert paper_table.cell(str(path), "all_correct") == ("4/4 stopped: 288 sequences (median 275, 100 - 500), "
                                                          "0.8 wrong")
    assert paper_table.cell(str(tmp_path / "none.json"), "13") == "not run yet"


def test_latest_stretch_is_the_latest_long_piece_of_a_run():
    sys.path[:0] = [os.path.join(ROOT, "analysis")]
    import paper_table
    piece = lambda its, secs, date: {"iterations": its, "elapsed_sec": secs, "date": date, "processor": "p"}
    sweep = {"config": {"batch_size": 2}, "stretches": [piece([0, 3600], [0.0, 3600.0], "d1"),
                                                        piece([3600, 9000], [3600.0, 7200.0], "d2"),
                                                        piece([9000, 9010], [7200.0, 7210.0], "d3")]}
    sweep["trials"] = [{}] * 10
    assert paper_table.latest_stretch(sweep) == (3.0, 1.0, "d2", "wall", 10)  # 5,400 iterations of 2 sequences in 1 h
    assert paper_table.latest_stretch({**sweep, "stretches": sweep["stretches"][:1]}) == (2.0, 1.0, "d1", "wall", 10)
    assert paper_table.latest_stretch({"config": {"batch_size": 1}}) is None      # a run from before stretches
    sweep["stretches"][1]["cpu_sec"] = 2700.0                             # stopped or waiting a quarter of the hour
    assert paper_table.latest_stretch(sweep) == (4.0, 1.0, "d2", "CPU", 10)
    sweep["stretches"][1]["trials"] = 5                                   # one of two processes
    assert paper_table.latest_stretch(sweep) == (4.0, 1.0, "d2", "CPU", 5)


def test_pace_counts_a_core_per_process():
    sys.path[:0] = [os.path.join(ROOT, "analysis")]
    import paper_table
    stretch = {"iterations": [0, 7200], "elapsed_sec": [0.0, 3600.0], "cpu_sec": 3600.0, "date": "d", "processor": "p"}
    sweep = {"config": {"batch_size": 1, "max_iters": 36_000}, "elapsed_sec": 3600.0, "stretches": [stretch],
             "trials": [{"sequences_seen": 7200, "reached_target": False}] * 10}
    assert paper_table.pace(sweep)[4:] == (4.0, 1)                       # 28,800 more at 2 per second, one process
    stretch["trials"] = 4                                                # three processes: 4, 4 and 2 trials
    assert paper_table.pace(sweep)[4:] == (4.0, 3)
    assert [paper_table.on_cores(*paper_table.pace(sweep)[4:]), paper_table.on_cores(4.0, 1)] == \
        ["4.0 hours on 3 cores", "4.0 hours of one core"]
    sweep["trials"] = [{"sequences_seen": 7200, "reached_target": True}] * 9 + sweep["trials"][:1]
    assert paper_table.pace(sweep)[4:] == (4.0, 1)                       # the stopped trials need no core


def test_leaving_chance_is_the_first_test_below_half_the_chance_level():
    sys.path[:0] = [os.path.join(ROOT, "analysis")]
    import network_state
    curve = lambda *mses: [[i * 100, i * 100, m, 0] for i, m in enumerate(mses)]
    sweep = {"chance_mse": 0.04, "trials": [
        {"test_curve": curve(0.04, 0.021, 0.019, 0.001), "sequences_seen": 350, "reached_target": True},
        {"test_curve": curve(0.04, 0.039, 0.04), "sequences_seen": 300, "reached_target": False},
        {"test_curve": curve(0.04, 0.01), "sequences_seen": 120, "reached_target": True}]}
    assert network_state.leaving_chance(sweep) == ([200, 100], [150, 20])


def test_memory_benchmark_measures_each_process_and_saves_its_figures(tmp_path):
    out = tmp_path / "memory.json"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_memory.py"), "--T", "20", "200",
                        "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    import json
    rows = json.load(open(out))["rows"]
    assert [row["T"] for row in rows] == [20, 200]
    for row in rows:                                        # every trial keeps its own steps
        assert row["peak_mib_1_trial"] < row["peak_mib_3_trials"]
    # every step of the sequence is kept: 3 trials x 32 sequences x ~220 steps more, at least ~16 floats each
    assert rows[1]["peak_mib_3_trials"] - rows[0]["peak_mib_3_trials"] > 3 * 32 * 200 * 16 * 8 / 2 ** 20
    assert r.stdout.startswith("machine: ")


@pytest.mark.results
def test_lag_table_reads_every_length_and_the_memory_benchmark():
    sys.path.insert(0, os.path.join(ROOT, "analysis"))
    import json
    import paper_table
    lines = paper_table.lag_table().splitlines()
    memory = {r["T"]: r for r in json.load(open(os.path.join(ROOT, "results", paper_table.MEMORY)))["rows"]}
    folders = paper_table.lag_folders()
    assert len(lines) == 2 + len(folders) and sorted(folders) == [100, 500, 1000, 2000, 5000, 10000]
    for line, (T, folder) in zip(lines[2:], sorted(folders.items())):
        cells = [c.strip() for c in line.strip("|").split("|")]
        path = os.path.join(ROOT, "results", folder, "sweep.json")
        assert cells[0] == f"{T:,d}" and cells[3] == paper_table.cell(path, "all_correct")
        assert cells[5] == f"{memory[T]['peak_mib_1_trial']:,d} MiB / {memory[T]['peak_mib_3_trials']:,d} MiB"
        if T <= 1000:                                      # the paper's mean and the body text's run beside it
            assert cells[1] == f"{dict((g[0][1], g[1][0]) for g in paper_table.GLANCE if g[0][0] == 'adding')[T]:,d} sequences"
        else:
            assert cells[1] == cells[2] == "-"
    # T = 5000: 3 trials in one process, two stretches of 743 and 772 CPU seconds (sweep.json)
    assert lines[2 + 4].split("|")[5].strip() == "505 s (3); 2,692 s"         # and the run's wall time
    assert lines[2 + 1].split("|")[5].strip().split(";")[0].endswith("s (10)")   # T = 500: ten in lockstep
