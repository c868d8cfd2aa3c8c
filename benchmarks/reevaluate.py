"""Does `hpo promote --reevaluate` correct the winner's curse? Test F1 and optimism.

For each data set (digits MLP, breast_cancer MLP) and each of R paired seeds: one sweep
(`--seed s`, TPE), then two promotions of it: the plain pick (the best validation trial)
and `--reevaluate K --seeds S` (the best mean over S fresh seeds among the top K). For each
arm: the promoted model's test F1, and its optimism = the score it was picked by minus its
test F1 (plain: the trial's validation F1; re-evaluated: the mean over the fresh seeds).
The goal: a test F1 at least as high with less optimism. Prints one JSON object and a
Markdown table for docs/benchmarks.md.

Full size (the lead, quiet machine):
  python benchmarks/reevaluate.py --trials 20 --epochs 10 --repeats 5 --top 3 --seeds 3
Smoke run: python benchmarks/reevaluate.py --trials 3 --epochs 1 --repeats 1 --top 2 \
  --seeds 2 --datasets breast_cancer_mlp
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ("digits_mlp", "breast_cancer_mlp")


def hpo(*args: str, cwd: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "hpo.cli", *args, "--json"], cwd=cwd, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout)


def one_seed(config: Path, seed: int, args: argparse.Namespace, cwd: str) -> dict[str, float]:
    study = f"bench-{seed}"
    common = ("--trials", str(args.trials), "--epochs", str(args.epochs), "--seed", str(seed))
    hpo("run", str(config), "--study", study, *common, cwd=cwd)
    name = hpo("best", _experiment(config), "--study", study, cwd=cwd)
    plain = hpo(
        "promote", _experiment(config), "--study", study, "--model-name", f"plain-{seed}",
        cwd=cwd,
    )  # fmt: skip
    again = hpo(
        "promote", _experiment(config), "--study", study, "--model-name", f"reeval-{seed}",
        "--reevaluate", str(args.top), "--seeds", str(args.seeds), cwd=cwd,
    )  # fmt: skip
    chosen = min(again["reevaluation"], key=lambda e: (-e["mean"], e["std"]))
    return {
        "plain_test_f1": plain["test_metrics"]["test_f1"],
        "plain_optimism": name["metrics"]["f1"] - plain["test_metrics"]["test_f1"],
        "reeval_test_f1": again["test_metrics"]["test_f1"],
        "reeval_optimism": chosen["mean"] - again["test_metrics"]["test_f1"],
        "same_pick": float(again["run_id"] == plain["run_id"]),
    }


def _experiment(config: Path) -> str:
    for line in config.read_text().splitlines():
        if line.startswith("name:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit(f"{config} has no name")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5, help="paired seeds")
    parser.add_argument("--top", type=int, default=3, help="--reevaluate K")
    parser.add_argument("--seeds", type=int, default=3, help="--seeds S")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for dataset in args.datasets.split(","):
        with tempfile.TemporaryDirectory(prefix=f"hpo-bench-{dataset}-") as cwd:
            config = Path(cwd) / f"{dataset}.yaml"
            text = (ROOT / "experiments" / f"{dataset}.yaml").read_text()
            config.write_text(text.replace("search_spaces/", f"{ROOT}/search_spaces/"))
            rows = [one_seed(config, 42 + r, args, cwd) for r in range(args.repeats)]
        results[dataset] = {key: statistics.mean(row[key] for row in rows) for key in rows[0]} | {
            "per_seed": rows
        }
    print(json.dumps({"args": vars(args), "results": results}, indent=1))
    print("\n| data | arm | mean test F1 | mean optimism (pick score - test F1) | same pick |")
    print("|---|---|---|---|---|")
    for dataset, r in results.items():
        for arm in ("plain", "reeval"):
            label = (
                "plain pick" if arm == "plain" else f"--reevaluate {args.top} --seeds {args.seeds}"
            )
            print(
                f"| {dataset} | {label} | {r[f'{arm}_test_f1']:.4f} | "
                f"{r[f'{arm}_optimism']:+.4f} | {r['same_pick']:.0%} |"
            )


if __name__ == "__main__":
    main()
