"""Peak memory of the forget-gate LSTM's recipe at long lags (docs/results.md, "Past the paper's lags").

    python benchmarks/bench_memory.py                                  # T = 100 ... 10,000, prints the figures
    python benchmarks/bench_memory.py --out results/beyond/memory.json # ... and saves them for the lag table

Runs the recipe's command (adding, the paper's sequences, 16 cells, chrono, batches of 32,
Adam) as whole processes for one update, with the test set drawn and tested at iteration 0
and 1, once with one trial and once with three in lockstep (as the runs past T = 1000 ran),
and reads each process's peak resident memory from the kernel (wait4's ru_maxrss, Linux). Full
backpropagation through time keeps every step of the longest sequence of a batch, so the
peak grows with T; the figure includes Python, NumPy and the test set.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # as the trainer: one thread per process (set before NumPy loads)
import multiplication_problem as mp  # noqa: E402  (the machine's description, as every run records it)

RECIPE = ["--task", "adding", "--dist", "paper", "--hidden", "16", "--chrono", "--optimizer", "adam", "--lr", "5e-3",
          "--clip", "1", "--batch-size", "32", "--stop", "paper", "--workers", "1"]


def command(T, trials, save_dir):
    """The recipe at minimal length T (sequences of T to T + T/10), `trials` seeds, one update."""
    return [sys.executable, os.path.join(ROOT, "multiplication_problem.py"), *RECIPE, "--T-min", str(T),
            "--T-max", str(T + T // 10), "--seeds", f"0-{trials - 1}", "--max-iters", "1", "--eval-every", "1",
            "--quiet", "--save-dir", save_dir]


def peak_mib(argv):
    """Run argv to its end; -> its peak resident memory in MiB (wait4's ru_maxrss: the
    largest of the process's own peak and those of any children it waited for; Linux
    counts it in KiB)."""
    with tempfile.TemporaryFile() as err:                       # a file, not a pipe: no child blocks on a full pipe
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status):
            err.seek(0)
            raise SystemExit(f"{' '.join(argv)}\nfailed: {err.read().decode()}")
    return usage.ru_maxrss / 1024


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--T", type=int, nargs="+", default=[100, 500, 1000, 2000, 5000, 10000],
                   help="minimal sequence lengths (default 100 500 1000 2000 5000 10000)")
    p.add_argument("--out", help="also write the figures to this JSON file (read by analysis/paper_table.py)")
    args = p.parse_args()
    rows, machine, date = [], f"{mp.cpu_name()}, {os.cpu_count()} cores", datetime.date.today().isoformat()
    print(f"machine: {machine}, {date}")
    print(f"{'T':>6} | {'1 trial':>10} | {'3 trials in lockstep':>20}")
    with tempfile.TemporaryDirectory() as d:
        for T in args.T:
            one, three = (peak_mib(command(T, n, os.path.join(d, f"T{T}_{n}"))) for n in (1, 3))
            rows.append({"T": T, "peak_mib_1_trial": round(one), "peak_mib_3_trials": round(three)})
            print(f"{T:>6} | {one:>6,.0f} MiB | {three:>16,.0f} MiB", flush=True)
    if args.out:
        record = {"command": "python benchmarks/bench_memory.py " + " ".join(sys.argv[1:]), "date": date, "machine": machine,
                  "recipe": " ".join(RECIPE), "rows": rows}
        with open(args.out, "w") as f:
            json.dump(record, f, indent=1)
        print(f"saved to {args.out}")


if __name__ == "__main__":
    main()
