"""Time the reference Q5 training (the master notebook's ``q5-lib`` cells) on the CPU.

Usage: .venv/bin/python bench/q5_training.py [--seeds N] [--naive-steps S] [--notebook PATH]
Per seed: wall seconds and steps/s of the full training (both networks, 50,000 steps each,
held-out accuracy every 20 steps), each net's accuracy on the 10,000 test images (as the judge
measures it, solutions/questions/q5.py), the curves at 5K/10K/20K/50K steps and the early means that
``check_bn_ahead_early`` compares. Then a short stretch of the naive pipeline (torchvision MNIST
with ``transforms.ToTensor()`` through a per-sample ``DataLoader``, batch 60, no evaluation) and
the per-step speed ratio. Other processes share the CPU: the load average is printed with it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from testsuite.helpers import question_module  # noqa: E402
from testsuite.notebook_code import MASTER_NOTEBOOK, exec_tagged_cells  # noqa: E402

q5 = question_module("q5")

MARKS = (5_000, 10_000, 20_000, 50_000)


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def run(lib: dict, seed: int, train_data, held_out) -> float:
    """Train both nets as the notebook's q5-run cell does (seed 0 is its run); print the results."""
    torch.manual_seed(seed)
    plain, bn = lib["build_mlp"](batch_norm=False), lib["build_mlp"](batch_norm=True)
    start = time.perf_counter()
    plain_curve, bn_curve = lib["train_both"](plain, bn, train_data, held_out, seed=seed)
    seconds = time.perf_counter() - start
    steps = 2 * lib["STEPS"]
    full = [q5.mnist_accuracy(model.eval()) for model in (plain, bn)]
    curves = [dict(plain_curve), dict(bn_curve)]
    marks = "  ".join(f"{m // 1000}K {curves[0][m]:.3f}/{curves[1][m]:.3f}" for m in MARKS)
    early = [q5.early_mean(plain_curve, "plain"), q5.early_mean(bn_curve, "bn")]
    print(
        f"seed {seed}: {seconds:6.1f} s, {steps / seconds:5.0f} steps/s | test (10K) "
        f"{full[0]:.4f}/{full[1]:.4f} | held-out {marks} | early mean {early[0]:.3f}/{early[1]:.3f}"
        f" | load {load()}",
        flush=True,
    )
    return seconds / steps


def naive_seconds_per_step(lib: dict, steps: int) -> float:
    """The hand-out's pipeline: PIL images -> ToTensor() one by one in a DataLoader."""
    root = os.environ.get("HOMEWORK_DATA_DIR", "data")
    dataset = torchvision.datasets.MNIST(
        root=root, train=True, download=True, transform=torchvision.transforms.ToTensor()
    )
    loader = DataLoader(dataset, batch_size=lib["BATCH_SIZE"], shuffle=True)
    model = lib["build_mlp"](batch_norm=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=lib["LEARNING_RATE"])
    batches = iter(loader)
    start = time.perf_counter()
    for _ in range(steps):
        images, labels = next(batches)
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--naive-steps", type=int, default=300)
    parser.add_argument("--notebook", type=Path, default=MASTER_NOTEBOOK)
    args = parser.parse_args()
    lib = exec_tagged_cells(args.notebook, "q5-lib")  # sets torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load {load()}, {args.notebook}")
    print("accuracies: without BN / with BN")
    start = time.perf_counter()
    train_data = lib["load_mnist"](train=True)
    held_out = lib["held_out_subset"](*lib["load_mnist"](train=False))
    print(f"loading MNIST into tensors: {time.perf_counter() - start:.2f} s")
    per_step = [run(lib, seed, train_data, held_out) for seed in range(args.seeds)]
    reference = statistics.median(per_step)
    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)  # a naive notebook keeps PyTorch's default
    naive = naive_seconds_per_step(lib, args.naive_steps)
    torch.set_num_threads(threads)
    total = 2 * lib["STEPS"]
    print(
        f"naive DataLoader + ToTensor: {1 / naive:.0f} steps/s over {args.naive_steps} steps, "
        f"no evaluation (~{naive * total / 60:.1f} min for both nets); reference "
        f"{1 / reference:.0f} steps/s with evaluation: {naive / reference:.1f}x faster per step"
    )


if __name__ == "__main__":
    main()
