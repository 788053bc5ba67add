"""Time the grader's retraining of the reference Q2 procedure and measure its margins.

Usage: .venv/bin/python bench/q2_training.py [--seeds N] [--notebook PATH]
For each grader seed s, exactly what grading does after the notebook ran: the in-kernel probe
(``retrain_procedure`` of ``solutions/questions/q2.py``, run here through the real exporter, one
thread) builds
``build_q2_model()`` seeded with the grader's seed and trains it with ``train_q2`` on grader data;
then the judge's three tiers run on it (10,000 fresh pairs, judge seed 1000 + s). Prints the
training seconds, the retrained MSE, the fresh model's MSE, the best re-initialised MSE, the judge's
seconds and the margin to the strict tier (1e8 / MSE).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader.inside.kernel_export import export_answers  # noqa: E402
from grader.judge.exported_answers import load_exported_answers  # noqa: E402
from grader.judge.protocol import export_request, grader_inputs  # noqa: E402
from testsuite.helpers import question_module  # noqa: E402
from testsuite.notebook_code import MASTER_NOTEBOOK, exec_tagged_cells  # noqa: E402

q2 = question_module("q2")
TIERS = (q2.check_mse_below_1e10, q2.check_mse_below_1e9, q2.check_mse_below_1e8)


def run(lib: dict, seed: int) -> tuple[float, float, float, float, float, float]:
    """Retrain as the kernel does and judge as the judge does, for grader seed ``seed``."""
    request = export_request({"q2": q2})
    seeds = {"model_seed": 1000 + seed, "train_seed": 2000 + seed, "test_seed": 3000 + seed}
    request["probes"][0]["inputs"] |= seeds
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        export_answers(lib, tmp, request)
        exported = time.perf_counter() - start
        data = load_exported_answers(Path(tmp))
    data.grader_inputs = grader_inputs(request)
    start = time.perf_counter()
    for check in TIERS:
        check(data, seed=1000 + seed)
    judged = time.perf_counter() - start
    retrained = q2.evaluate(data, 1000 + seed, q2.RETRAINED)
    initial = q2.evaluate(data, 1000 + seed, q2.INITIAL).mse
    return exported, retrained.mse, initial, min(retrained.reinit_mses), judged, 1e8 / retrained.mse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--notebook", type=Path, default=MASTER_NOTEBOOK)
    args = parser.parse_args()
    lib = exec_tagged_cells(args.notebook, "q2-lib")
    torch.manual_seed(0)  # the notebook's own run is the submitted q2_model
    lib["q2_model"] = lib["build_q2_model"]()
    lib["train_q2"](lib["q2_model"], lib["MultiplyDataset"](10_000), lib["MultiplyDataset"](2_000))
    print(f"torch {torch.__version__}, {q2.RETRAIN_THREADS} thread(s), notebook {args.notebook}")
    print("seed  retrain_s  retrained_mse  fresh_mse  best_reinit_mse  judge_s  margin_to_1e8")
    times, mses = [], []
    for seed in range(args.seeds):
        seconds, mse, initial, reinit, judged, margin = run(lib, seed)
        times.append(seconds)
        mses.append(mse)
        print(
            f"{seed:4d}  {seconds:9.2f}  {mse:13.3g}  {initial:9.3g}  {reinit:15.3g}  "
            f"{judged:7.3f}  {margin:12.1f}x",
            flush=True,
        )
    print(
        f"retraining: median {statistics.median(times):.2f} s, max {max(times):.2f} s; "
        f"worst MSE {max(mses):.3g} (margin {1e8 / max(mses):.1f}x to 1e8, "
        f"{1e9 / max(mses):.0f}x to 1e9, {1e10 / max(mses):.0f}x to 1e10)"
    )


if __name__ == "__main__":
    main()
