"""Training speed at the reference setting, and the paper protocol's step rate.

    python benchmarks/bench_speed.py                      # numpy float64 / float32
    python benchmarks/bench_speed.py --torch              # plus a PyTorch nn.LSTM + Adam loop (if installed)
    python benchmarks/bench_speed.py --paper --against 4fd107e   # the paper protocol, this code vs that commit's
    python benchmarks/bench_speed.py --processes 4fd107e --iters 5000 --repeats 5 --only   # ... as whole processes
    python benchmarks/bench_speed.py --time-to-target 100-129 --torch   # seconds to the target, ours vs PyTorch
    python benchmarks/bench_speed.py --paths --repeats 3                # every path as whole processes (docs/speed.md)
    python benchmarks/bench_speed.py --cluster --repeats 3 --only       # a local Dask cluster against --workers 2

Prints milliseconds per training iteration (data, forward, backward, update;
no evaluation) and sequences per second. Reference setting: batch 32, T in
[20, 30], 8 cells, Adam. Best of --repeats timings of --iters iterations.
Every comparison runs both sides in this process, alternating, so that the
machine's state is the same for both.
"""
import argparse
import dataclasses
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # as the trainer: one thread per process (set before NumPy loads)

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "analysis"))      # torch_net: the PyTorch network of every cross-check
import multiplication_problem as mp  # noqa: E402


def module_at(rev):
    """multiplication_problem.py as it was at git revision `rev`, imported under another name."""
    import importlib.util
    import subprocess
    import tempfile
    src = subprocess.run(["git", "-C", ROOT, "show", f"{rev}:multiplication_problem.py"], capture_output=True,
                         text=True, check=True).stdout
    path = os.path.join(tempfile.mkdtemp(), f"mp_{rev}.py")
    with open(path, "w") as f:
        f.write(src)
    spec = importlib.util.spec_from_file_location(f"mp_{rev}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def numpy_loop(cfg, seeds, iters, mp=mp):
    """The trainer's step, without evaluation or bookkeeping: train_step where the
    module has it (mp: this module, or an older version of it from module_at),
    else the same forward -> backward -> update written out as older code had it."""
    if hasattr(mp, "train_step"):
        st = mp.new_state(cfg, seeds)
        for s in st.streams:
            s.next()                               # the first chunk of sequences is drawn outside the timing
        t0 = time.perf_counter()
        for it in range(1, iters + 1):
            mp.train_step(cfg, st, it, log=print)
        return time.perf_counter() - t0
    params = mp.init_params(cfg, seeds)
    streams = [mp.Stream(cfg, mp.rng_for(s, 1)) for s in seeds]
    opt = mp.adam_init(params) if cfg.optimizer == "adam" else None
    dtype = np.dtype(cfg.dtype)
    for s in streams:
        s.next()
    t0 = time.perf_counter()
    for _ in range(iters):
        X, L, y_true = mp.stack_trials([s.next() for s in streams], dtype)
        y, cache = mp.forward(cfg, params, X, L)
        err = y - y_true
        grads = mp.backward(cfg, params, cache, mp.loss_grad(cfg, err).astype(dtype))
        mp.update(cfg, params, mp.clip_grads(grads, cfg.clip), opt)
    return time.perf_counter() - t0


def torch_loop(cfg, iters):
    import torch
    from torch_net import Net, from_time_major
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = Net(cfg.hidden)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    stream = mp.Stream(cfg, mp.rng_for(0, 1))
    t0 = time.perf_counter()
    for _ in range(iters):
        X, L, y = stream.next()                       # X (T, B, 2) time-major
        loss = ((net(*from_time_major(X, L)) - torch.from_numpy(y).float()) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip)
        opt.step()
    return time.perf_counter() - t0


def sweep_vs_separate(n, iters):
    """N seeds: one lockstep command (both cores) against N separate single-seed
    processes run one after another, all for `iters` iterations."""
    import subprocess
    main = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "multiplication_problem.py")
    common = ["--max-iters", str(iters), "--target-test-mse", "1e-9", "--eval-every", str(iters),
              "--snapshot-every", "0", "--quiet"]
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, main, "--seeds", f"0-{n - 1}", *common, "--save-dir", d], check=True)
        one = time.perf_counter() - t0
        t0 = time.perf_counter()
        for s in range(n):
            subprocess.run([sys.executable, main, "--seed", str(s), *common, "--save-dir", d], check=True)
        separate = time.perf_counter() - t0
    print(f"  {n} seeds x {iters} iterations: one command {one:.1f} s, {n} separate runs {separate:.1f} s "
          f"-> {separate / one:.1f}x")


def processes_against(rev, iters, repeats):
    """The paper protocol as a user runs it (adding, T = 100, 10 trials, `iters` iterations,
    one whole process: start-up, test set, training, the tests at the start and the end,
    the saved files and whatever else that version does at the end), the committed code
    (HEAD) and `rev`'s, each from its own copy of the tree, alternating, on the CPUs this
    process is given (run it under taskset to pin it); prints wall and CPU time."""
    import subprocess
    import tempfile
    args = ["--paper", "--task", "adding", "--T", "100", "--seeds", "0-9", "--workers", "1",
            "--max-iters", str(iters), "--quiet"]
    with tempfile.TemporaryDirectory() as d:
        trees = {"old": os.path.join(d, "old"), "new": os.path.join(d, "new")}
        for name, tree in (("old", rev), ("new", "HEAD")):            # whole trees: a sweep may import its picture script
            os.makedirs(trees[name])
            archive = subprocess.run(["git", "-C", ROOT, "archive", tree], capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", trees[name]], input=archive, check=True)
        times = {"old": [], "new": []}
        cpu = {"old": [], "new": []}
        for i in range(repeats):
            for name in ("old", "new"):
                out = os.path.join(d, f"{name}{i}")                  # a fresh folder: no refusal, no overwrite
                c0, t0 = children_cpu_seconds(), time.perf_counter()
                subprocess.run([sys.executable, "multiplication_problem.py", *args, "--save-dir", out], check=True,
                               cwd=trees[name], stdout=subprocess.DEVNULL)
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(children_cpu_seconds() - c0)
    print(f"  paper protocol as whole processes (adding, T=100, 10 trials, {iters:,d} iterations), {repeats} "
          f"alternating runs each:")
    for what, t in (("wall time", times), ("CPU time", cpu)):
        o, w = np.array(t["old"]), np.array(t["new"])
        print(f"    {what}: {rev} best {o.min():.2f} s, median {np.median(o):.2f} s; HEAD best {w.min():.2f} s, "
              f"median {np.median(w):.2f} s -> {o.min() / w.min():.2f}x (best), "
              f"{np.median(o) / np.median(w):.2f}x (median)")


# ----------------------------------------------------------------------------
# --paths: every path of the trainer as whole processes, alternating

MAIN = os.path.join(ROOT, "multiplication_problem.py")
# the forget-gate recipe of docs/pytorch.md (row 9): adding, the paper's data, 64 cells, forget bias 5,
# RMSprop 1e-3, clip 1, one sequence per update; 10 trials in lockstep against one nn.LSTM trial
ONLINE = ["--task", "adding", "--dist", "paper", "--T-min", "100", "--T-max", "110", "--hidden", "64",
          "--forget-bias", "5", "--optimizer", "rmsprop", "--lr", "1e-3", "--clip", "1", "--batch-size", "1",
          "--stop", "paper", "--seeds", "0-9", "--workers", "1", "--eval-every", "100000", "--quiet"]
# batches at T = 500: 16 cells, batch 32, Adam 5e-3, clip 1; 10 trials in lockstep against one nn.LSTM trial
BATCH500 = ["--task", "adding", "--dist", "paper", "--T-min", "500", "--T-max", "550", "--hidden", "16",
            "--forget-bias", "5", "--optimizer", "adam", "--lr", "5e-3", "--clip", "1", "--batch-size", "32",
            "--stop", "paper", "--seeds", "0-9", "--workers", "1", "--eval-every", "100000", "--quiet"]


def tree_at(rev, folder):
    """The whole tree of git revision `rev` (HEAD included) unpacked into folder/rev."""
    import subprocess
    out = os.path.join(folder, rev)
    if not os.path.isdir(out):
        os.makedirs(out)
        archive = subprocess.run(["git", "-C", ROOT, "archive", rev], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", out], input=archive, check=True)
    return out


def timed(argv, cwd):
    """(wall seconds, CPU seconds) of one whole process; the argument OUT becomes a new folder."""
    import subprocess
    import tempfile
    argv = [tempfile.mkdtemp(dir=cwd, prefix="out-") + "/run" if a == "OUT" else a for a in argv]
    c0, t0 = children_cpu_seconds(), time.perf_counter()
    subprocess.run([sys.executable, *argv], cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0, children_cpu_seconds() - c0


def alternate(sides, repeats):
    """sides: name -> (argv, cwd); each run `repeats` times, in turn -> name -> [(wall, cpu)]."""
    times = {name: [] for name in sides}
    for _ in range(repeats):
        for name, (argv, cwd) in sides.items():
            times[name].append(timed(argv, cwd))
    return times


def median_wall(t):
    return float(np.median([w for w, _ in t]))


def report(title, times, per=None):
    """Medians (best) of wall and CPU seconds; per: name -> trials the process trains (per-trial figures)."""
    print(f"  {title}")
    for name, t in times.items():
        w, c = np.array(t).T
        k = (per or {}).get(name, 1)
        print(f"    {name}: wall median {np.median(w):.2f} s (best {w.min():.2f}), CPU median {np.median(c):.2f} s"
              + (f"; per trial {np.median(w) / k:.2f} s" if k > 1 else ""))


def torch_process(kind, updates, dtype):
    """One nn.LSTM trial of the recipe `kind` (online or batch500) for `updates` updates, the same sequences as
    this project's seed 0: run as its own process by --paths (--torch-process)."""
    import torch
    from torch_net import Net, from_time_major
    torch.set_num_threads(1)
    torch.manual_seed(0)
    online = kind == "online"
    cfg = mp.Config(task="adding", dist="paper", T_min=100 if online else 500, T_max=110 if online else 550,
                    hidden=64 if online else 16, batch_size=1 if online else 32)
    net = Net(cfg.hidden, forget_bias=5.0).to(getattr(torch, dtype))
    opt = (torch.optim.RMSprop(net.parameters(), lr=1e-3) if online else torch.optim.Adam(net.parameters(), lr=5e-3))
    stream = mp.Stream(cfg, mp.rng_for(0, 1))
    for _ in range(updates):
        X, L, y = stream.next()
        Xt, Lt = from_time_major(X, L)
        loss = ((net(Xt.to(getattr(torch, dtype)), Lt) - torch.from_numpy(y).to(getattr(torch, dtype))) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()


def evaluation_share():
    """Evaluation's share of a run at T = 500 (the paper's test set of 2560 sequences every 20,000
    sequences), for the two forget-gate paths, 3 trials in lockstep as the screen runs them:
    seconds of one evaluation against the seconds of the 20,000 sequences between two."""
    for name, online in (("one sequence per update, 64 cells", True), ("batches of 32, 16 cells", False)):
        cfg = mp.Config(task="adding", dist="paper", T_min=500, T_max=550, hidden=64 if online else 16,
                        batch_size=1 if online else 32, optimizer="rmsprop" if online else "adam", stop="paper",
                        snapshot_every=0, quiet=True)
        n = 40 if online else 10
        t = numpy_loop(cfg, [0, 1, 2], n) / n
        test = mp.make_test_set(cfg)
        params = mp.init_params(cfg, [0, 1, 2])
        t0 = time.perf_counter()
        mp.evaluate(cfg, params, test)
        e = time.perf_counter() - t0
        train = t * 20_000 / cfg.batch_size
        print(f"    {name}: one evaluation {e:.1f} s, 20,000 sequences of training {train:.0f} s -> evaluation "
              f"{100 * e / (e + train):.1f}% of the run")


def paths(reference_rev, paper_rev, repeats, folder):
    """Every path, whole processes, alternating (--paths)."""
    head = tree_at("HEAD", folder)
    bench = os.path.join(head, "benchmarks", "bench_speed.py")
    out = lambda name: ["--save-dir", "OUT"]
    print(f"  every path, {repeats} alternating whole processes per side (HEAD = this checkout's commit)")
    ref = {rev: (["multiplication_problem.py", "--seed", "5001", "--quiet"], tree_at(rev, folder))
           for rev in (reference_rev, "HEAD")}
    times = alternate({k: (argv + out(k), cwd) for k, (argv, cwd) in ref.items()}, repeats)
    report(f"the reference run (the default command, seed 5001, to the target): {reference_rev} against HEAD "
           f"-> {median_wall(times[reference_rev]) / median_wall(times['HEAD']):.2f}x", times)
    paper = ["multiplication_problem.py", "--paper", "--task", "adding", "--T", "100", "--seeds", "0-9", "--workers",
             "1", "--max-iters", "5000", "--quiet"]
    times = alternate({rev: (paper + out(rev), tree_at(rev, folder)) for rev in (paper_rev, "HEAD")}, repeats)
    report(f"the 1997 paper protocol (adding, T = 100, 10 trials, 5,000 sequences each): {paper_rev} against HEAD "
           f"-> {median_wall(times[paper_rev]) / median_wall(times['HEAD']):.2f}x", times)
    for kind, flags, updates in (("online", ONLINE, 1000), ("batch500", BATCH500, 100)):
        for dtype in ("float64", "float32"):
            ours = f"numpy {dtype}, 10 trials"
            sides = {}
            for n in (updates, 1):        # a process of one update: start-up, the two evaluations, one step
                sides[(ours, n)] = (["multiplication_problem.py", *flags, "--max-iters", str(n), "--n-test", "256",
                                     "--dtype", dtype] + out(kind), head)
                for tdt in ("float32", "float64") if dtype == "float64" else ("float32",):
                    sides[(f"torch {tdt}, 1 trial", n)] = ([bench, "--torch-process", kind, str(n), tdt], head)
            times = alternate(sides, repeats)
            names = list(dict.fromkeys(name for name, _ in sides))
            whole = {name: median_wall(times[(name, updates)]) / (10 if name == ours else 1) for name in names}
            step = {name: (median_wall(times[(name, updates)]) - median_wall(times[(name, 1)])) / (updates - 1)
                    / (10 if name == ours else 1) for name in names}
            what = ("one sequence per update (T = 100-110, 64 cells, RMSprop)" if kind == "online" else
                    "batches at T = 500-550 (16 cells, 32 sequences, Adam)")
            print(f"  the forget-gate LSTM, {what}, per trial: whole processes of {updates:,d} updates, and one "
                  f"update past the start-up (a process of {updates:,d} updates less one of 1, over {updates - 1:,d})")
            for name in names:
                print(f"    {name}: {updates:,d} updates median {median_wall(times[(name, updates)]):.2f} s, 1 update "
                      f"{median_wall(times[(name, 1)]):.2f} s; per trial {whole[name]:.2f} s whole, "
                      f"{1e3 * step[name]:.2f} ms per update past the start-up")
            for name in names[1:]:
                print(f"    -> numpy {dtype} against {name.split(',')[0]}: {whole[name] / whole[ours]:.2f}x whole "
                      f"processes, {step[name] / step[ours]:.2f}x past the start-up")
    print("  evaluation at T = 500, in this process (3 trials in lockstep, as the screen):")
    evaluation_share()


def cluster_against_workers(repeats, iters=100_000, every=10_000):
    """The paper protocol (adding, T = 100, 10 trials, `iters` sequences each) on a Dask cluster of
    two one-thread workers on 127.0.0.1 (--scheduler, stretches of `every`) against --workers 2,
    alternating whole processes; the same bits checked; the cluster's overhead per stretch."""
    import json
    import subprocess
    import tempfile
    sweep = ["multiplication_problem.py", "--paper", "--task", "adding", "--T", "100", "--seeds", "0-9",
             "--workers", "2", "--max-iters", str(iters), "--checkpoint-every", str(every), "--quiet"]
    with tempfile.TemporaryDirectory() as d:
        info = os.path.join(d, "scheduler.json")
        procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                   "--port", "0", "--no-dashboard", "--scheduler-file", info], cwd=d,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        try:
            deadline = time.monotonic() + 60
            while not (os.path.exists(info) and os.path.getsize(info)):
                if procs[0].poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("bench_speed.py: error: the Dask scheduler did not start (pip install -r requirements.txt)")
                time.sleep(0.1)
            with open(info) as f:
                address = json.load(f)["address"]
            procs += [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", info,
                                        "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1", "--no-dashboard"],
                                       cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
            outs = {"--workers 2": [], "cluster": []}
            times = {"--workers 2": [], "cluster": []}
            for i in range(repeats):
                for name, extra in (("--workers 2", []), ("cluster", ["--scheduler", address])):
                    out = os.path.join(d, f"{name[-1]}{i}")
                    times[name].append(timed([*sweep, *extra, "--save-dir", out], ROOT))
                    outs[name].append(out)
            weights = lambda o: dict(np.load(os.path.join(o, "sweep_weights.npz")))
            trials = lambda o: json.load(open(os.path.join(o, "sweep.json")))["trials"]
            ref = outs["--workers 2"][0]
            same = all(trials(o) == trials(ref) and all(np.array_equal(v, weights(ref)[k]) for k, v in weights(o).items())
                       for o in outs["cluster"] + outs["--workers 2"])
        finally:
            for p in procs:
                p.kill()
                p.wait()
    stretches = 2 * -(-iters // every)
    extra = median_wall(times["cluster"]) - median_wall(times["--workers 2"])
    report(f"the paper protocol (adding, T = 100, 10 trials, {iters:,d} sequences each) on a local cluster of two "
           f"workers against --workers 2: same bits {same}; {stretches} stretches of {every:,d} iterations, "
           f"{1e3 * extra / stretches:.0f} ms more per stretch", times)


def children_cpu_seconds():
    """User + system CPU time of the finished child processes so far. Unlike the
    wall time it leaves out the time another job on the machine held the core."""
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def best(fn, repeats):
    return min(fn() for _ in range(repeats))


def paper_against(rev, iters, repeats):
    """The paper protocol (10 trials in lockstep), this code and `rev`'s, alternating."""
    old = module_at(rev)
    for task, T, n in (("adding", 100, iters), ("adding", 1000, max(20, iters // 10))):
        times = {"old": [], "new": []}
        for _ in range(repeats):
            for name, m in (("old", old), ("new", mp)):
                times[name].append(numpy_loop(m.paper_config(task, T), list(range(10)), n, m) / n)
        o, w = min(times["old"]), min(times["new"])
        print(f"  paper protocol {task}, T={T}, 10 trials in lockstep: {rev} {1e3 * o:.3f} ms per on-line step, "
              f"this code {1e3 * w:.3f} ms -> {o / w:.2f}x the sequences per second ({10 / w:,.0f} sequences/s)")


def torch_to_target(cfg, seed, test, check_every):
    """A PyTorch nn.LSTM + Adam loop with this project's defaults (16 cells, forget bias 3,
    uniform init +-1/sqrt(H), Adam 5e-3, clip 1.0, batch 32) on the same data and test set,
    until the held-out MSE is below the target: -> (seconds, iterations or None)."""
    import torch
    from torch_net import Net, from_time_major
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    net = Net(cfg.hidden, forget_bias=cfg.forget_bias, init_half_width=cfg.init_half_width())
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    stream = mp.Stream(cfg, mp.rng_for(seed, 1))
    Xt, yt = from_time_major(test[0], test[1]), torch.from_numpy(test[2]).float()
    t0 = time.perf_counter()
    for it in range(1, cfg.max_iters + 1):
        X, L, y = stream.next()
        loss = ((net(*from_time_major(X, L)) - torch.from_numpy(y).float()) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip)
        opt.step()
        if it % check_every == 0:
            with torch.no_grad():
                mse = float(((net(*Xt) - yt) ** 2).mean())
            if mse < cfg.target_test_mse:
                return time.perf_counter() - t0, it
    return time.perf_counter() - t0, None


def time_to_target(seeds, with_torch):
    """Seconds to the held-out target per seed, ours (the trainer, in process) and, with
    --torch, the PyTorch loop, alternating seed by seed."""
    cfg = mp.Config(quiet=True, snapshot_every=0, max_iters=8000)
    test = mp.make_test_set(cfg)
    ours, theirs = [], []
    for seed in seeds:
        t0 = time.perf_counter()
        r = mp.train(cfg, [seed], log=lambda s: None)["results"][0]
        ours.append((time.perf_counter() - t0, r["iterations"] if r["reached_target"] else None))
        if with_torch:
            theirs.append(torch_to_target(cfg, seed, test, cfg.eval_every))
    for name, rows in (("this project", ours), ("torch nn.LSTM + Adam (1 thread)", theirs)):
        if rows:
            hit = [r for r in rows if r[1] is not None]
            print(f"  {name}: {len(hit)}/{len(rows)} seeds reach test MSE < {cfg.target_test_mse} within "
                  f"{cfg.max_iters} iterations; total {sum(r[0] for r in rows):.1f} s, median per seed "
                  f"{np.median([r[0] for r in rows]):.2f} s, median iterations {np.median([r[1] for r in hit]) if hit else '-'}")
    if ours and theirs:
        ratio = sum(r[0] for r in theirs) / sum(r[0] for r in ours)
        print(f"  -> {'this project' if ratio >= 1 else 'torch'} {max(ratio, 1 / ratio):.1f}x faster to the target "
              "in total")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iters", type=int, default=1000, help="iterations per timing")
    p.add_argument("--repeats", type=int, default=3, help="timings; the best is reported")
    p.add_argument("--torch", action="store_true", help="also time PyTorch nn.LSTM + Adam (one thread)")
    p.add_argument("--paper", action="store_true", help="also time the paper protocol (1997 cell, online, T=100)")
    p.add_argument("--against", metavar="REV", help="with --paper: time the paper protocol of git revision REV too, alternating")
    p.add_argument("--time-to-target", metavar="SEEDS", help="seconds to test MSE < 0.03 on these seeds (e.g. 100-129), "
                   "this project and, with --torch, a PyTorch loop with the same settings")
    p.add_argument("--processes", metavar="REV", help="time the paper protocol as whole processes, this code and "
                   "git revision REV's trainer, alternating (--iters iterations, default 1000; 5000 in docs/speed.md)")
    p.add_argument("--paths", action="store_true", help="every path as whole processes, alternating: the reference "
                   "run against --reference-rev, the 1997 paper protocol against --paper-rev, the forget-gate LSTM "
                   "(one sequence per update; batches at T = 500) against nn.LSTM, and evaluation's share at T = 500")
    p.add_argument("--cluster", action="store_true", help="the paper protocol on a local Dask cluster of two workers "
                   "against --workers 2, whole processes, alternating (needs dask and distributed)")
    p.add_argument("--reference-rev", default="d11a9fa", help="with --paths (default d11a9fa)")
    p.add_argument("--paper-rev", default="4fd107e", help="with --paths (default 4fd107e)")
    p.add_argument("--torch-process", nargs=3, metavar=("KIND", "UPDATES", "DTYPE"), help=argparse.SUPPRESS)
    p.add_argument("--only", action="store_true", help="run only what --paper/--against/--processes/--time-to-target/"
                   "--paths ask for")
    p.add_argument("--sweep", type=int, default=0, metavar="N",
                   help="also time N seeds in one command against N separate runs (same iterations, no early stop)")
    a = p.parse_args()
    if a.torch_process:
        return torch_process(a.torch_process[0], int(a.torch_process[1]), a.torch_process[2])
    print(f"machine: {os.cpu_count()} cores, {mp.environment()['processor']}, numpy {np.__version__}, "
          f"{time.strftime('%Y-%m-%d')}")
    if a.time_to_target:
        time_to_target(mp.parse_seeds(a.time_to_target), a.torch)
    if a.paper and a.against:
        paper_against(a.against, a.iters, a.repeats)
    if a.processes:
        processes_against(a.processes, a.iters, a.repeats)
    if a.cluster:
        cluster_against_workers(a.repeats)
    if a.paths:
        import tempfile
        with tempfile.TemporaryDirectory() as folder:
            paths(a.reference_rev, a.paper_rev, a.repeats, folder)
    if a.only:
        return
    base = mp.Config(hidden=8)          # the reference's setting
    print(f"reference setting: batch {base.batch_size}, T in [{base.T_min}, {base.T_max}], "
          f"{base.hidden} cells, Adam; best of {a.repeats} x {a.iters} iterations")
    for dtype in ("float64", "float32"):
        cfg = dataclasses.replace(base, dtype=dtype)
        s = best(lambda: numpy_loop(cfg, [0], a.iters), a.repeats)
        print(f"  numpy {dtype}: {1e3 * s / a.iters:.3f} ms/iteration, {a.iters * cfg.batch_size / s:,.0f} sequences/s")
    if a.torch:
        s = best(lambda: torch_loop(base, a.iters), a.repeats)
        print(f"  torch nn.LSTM + Adam (1 thread): {1e3 * s / a.iters:.3f} ms/iteration, "
              f"{a.iters * base.batch_size / s:,.0f} sequences/s")
    for K in (10, 30):
        cfg = dataclasses.replace(base, snapshot_every=0)
        s = best(lambda: numpy_loop(cfg, list(range(K)), a.iters // 4), a.repeats)
        print(f"  numpy float64, {K} seeds in lockstep: {4e3 * s / a.iters:.3f} ms/iteration "
              f"({4e3 * s / a.iters / K:.3f} ms per seed-iteration)")
    if a.sweep:
        sweep_vs_separate(a.sweep, a.iters)
    if a.paper and not a.against:
        for task in ("adding", "multiplication"):
            cfg = mp.paper_config(task)
            s = best(lambda: numpy_loop(cfg, list(range(10)), a.iters), a.repeats)
            print(f"  paper protocol {task}, T=100, 10 trials in lockstep: {1e3 * s / a.iters:.3f} ms per "
                  f"on-line step of all trials, {10 * a.iters / s:,.0f} sequences/s")


if __name__ == "__main__":
    main()
