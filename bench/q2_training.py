"""Time the reference Q2 training (the master notebook's ``q2-lib`` cells) on the CPU.

Usage: .venv/bin/python bench/q2_training.py [--seeds N] [--threads T] [--notebook PATH]
Per seed: training seconds, best train / test MSE of the run (2,000 test pairs) and the final
model's MSE on the judge's 10,000 fresh pairs (grader.checks.q2), all in raw units.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader.checks import q2  # noqa: E402
from grader.notebook_code import MASTER_NOTEBOOK, exec_tagged_cells  # noqa: E402


def run(lib: dict, seed: int) -> tuple[float, float, float, float]:
    """Train as the notebook does (seed 0 is its own run): seconds, train, test, judge MSE."""
    torch.manual_seed(seed)
    train_set = lib["MultiplyDataset"](10_000, seed=2 * seed)
    test_set = lib["MultiplyDataset"](2_000, seed=2 * seed + 1)
    model = lib["build_q2_model"]()
    start = time.perf_counter()
    history = lib["train_q2"](model, train_set, test_set)
    seconds = time.perf_counter() - start
    judge = q2.mean_squared_error(model.eval(), seed=1000 + seed)
    return seconds, min(history["train_mse"]), min(history["test_mse"]), judge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--notebook", type=Path, default=MASTER_NOTEBOOK)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lib = exec_tagged_cells(args.notebook, "q2-lib")
    print(f"torch {torch.__version__}, {args.threads} thread(s), notebook {args.notebook}")
    print("seed  seconds  best_train_mse  best_test_mse  judge_mse(10k fresh)")
    times = []
    for seed in range(args.seeds):
        seconds, train, test, judge = run(lib, seed)
        times.append(seconds)
        print(f"{seed:4d}  {seconds:7.2f}  {train:14.3g}  {test:13.3g}  {judge:10.3g}", flush=True)
    print(f"median {statistics.median(times):.2f} s, max {max(times):.2f} s per training run")


if __name__ == "__main__":
    main()
