"""Strategy benchmark: median best validation F1 and wall time per strategy, and pruning.

Runs `hpo compare` on the digits MLP (default 20 trials x 10 epochs x 5 paired seeds, as in
the strategies issue), then the same budget with ASHA and Hyperband pruning for optuna-tpe,
reporting each pruner's best F1 relative to the unpruned best and the share of epochs used.
Smaller runs for a quick look: --trials 10 --epochs 4 --repeats 3.
Usage: python benchmarks/strategies.py [--trials N] [--epochs N] [--repeats N] [--strategies ..]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "experiments" / "digits_mlp.yaml"
DEFAULT = "random,optuna-tpe,optuna-cmaes,optuna-qmc,bayes-opt,skopt-gp,skopt-forest"


def hpo(*args: str, cwd: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hpo.cli", *args], cwd=cwd, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return done.stdout


def pruned_runs(pruner: str, args: argparse.Namespace, cwd: str) -> dict[str, float]:
    """Best F1 and epochs used (share of trials x epochs) with one pruner, over repeats."""
    from mlflow import MlflowClient

    # the same split as `hpo compare` (it pins data.seed), only the strategy seed varies
    config = Path(cwd) / "digits_mlp_pinned.yaml"
    text = CONFIG.read_text().replace("search_spaces/", f"{ROOT}/search_spaces/")
    config.write_text(text.replace("  source: digits", "  source: digits\n  seed: 42"))
    bests, shares = [], []
    for repeat in range(args.repeats):
        out = json.loads(
            hpo(
                "run",
                str(config),
                "--strategy",
                "optuna-tpe",
                "--pruner",
                pruner,
                "--trials",
                str(args.trials),
                "--epochs",
                str(args.epochs),
                "--seed",
                str(42 + repeat),
                "--study",
                f"prune-{pruner}-{repeat}",
                "--json",
                "--quiet",
                cwd=cwd,
            )
        )
        client = MlflowClient(f"sqlite:///{cwd}/mlflow.db")
        runs = client.search_runs(
            [client.get_run(out["sweep_run_id"]).info.experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{out['sweep_run_id']}'",
        )
        epochs = sum(r.data.metrics.get("epochs", 0.0) for r in runs)
        bests.append(out["best"]["metrics"]["f1"])
        shares.append(epochs / (args.trials * args.epochs))
    return {"best_f1_median": statistics.median(bests), "epoch_share": statistics.mean(shares)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--strategies", default=DEFAULT)
    parser.add_argument("--pruners", default="asha,hyperband")
    parser.add_argument(
        "--only-pruning", action="store_true", help="skip the comparison (minutes, not an hour)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # pruned sweeps first: their epoch share is known in minutes, the comparison takes long
        pruned = {}
        for pruner in args.pruners.split(","):
            pruned[pruner] = pruned_runs(pruner, args, tmp)
            print(
                f"optuna-tpe + {pruner}: median best f1 {pruned[pruner]['best_f1_median']:.4f} "
                f"using {pruned[pruner]['epoch_share']:.0%} of the epochs",
                flush=True,
            )
        if args.only_pruning:
            return
        report = json.loads(
            hpo(
                "compare",
                str(CONFIG),
                "--strategies",
                args.strategies,
                "--trials",
                str(args.trials),
                "--repeats",
                str(args.repeats),
                "--epochs",
                str(args.epochs),
                "--json",
                cwd=tmp,
            )
        )
        print(
            f"digits MLP, {args.trials} trials x {args.epochs} epochs, {args.repeats} paired seeds"
        )
        print("strategy        median best f1   mean wall s")
        medians = {}
        for row in report["strategies"]:
            medians[row["strategy"]] = statistics.median(row["best"])
            print(
                f"{row['strategy']:<15} {medians[row['strategy']]:14.4f} "
                f"{row['wall_seconds_mean']:13.1f}"
            )
        sig = report["significance"]
        if "friedman" in sig and "p_value" in sig["friedman"]:
            print(f"Friedman p = {sig['friedman']['p_value']:.4g}")
        if "optuna-tpe" in medians and "random" in medians:
            verdict = "yes" if medians["optuna-tpe"] >= medians["random"] else "NO"
            print(f"optuna-tpe >= random on the median: {verdict}")
        unpruned = medians.get("optuna-tpe")
        for pruner, row in pruned.items():
            ratio = row["best_f1_median"] / unpruned if unpruned else float("nan")
            print(
                f"optuna-tpe + {pruner}: median best f1 {row['best_f1_median']:.4f} "
                f"({ratio:.1%} of unpruned) using {row['epoch_share']:.0%} of the epochs"
            )


if __name__ == "__main__":
    main()
