"""budget.stop_when benchmark: trials saved and best F1 lost versus the full budget.

For each shipped experiment (default: digits_mlp, breast_cancer_mlp, wine_mlp) and seed
(default 5), ONE full sweep of the budget (default 60 trials, the experiment's own strategy
and epochs) is run with `hpo run`; then its trial sequence, in trial-number order, is
REPLAYED through each stop rule (hpo.sweep.stop_rules.evaluate on the first n trials, for
n = 1, 2, ...): the rule stops at the first n where it fires. With one worker, a sweep that
stops at n has run exactly those first n trials (the strategy's suggestions do not depend on
the budget), so the replay is the stopped sweep, without running each rule's sweep again.

Reported per rule: trials saved (1 - n / budget), the best validation F1 lost relative to the
full budget's best (the objective, on the validation split), mean over runs and worst run.
Goal (issue 16): >= 30 % of trials saved at <= 0.5 % F1 lost.

Usage: python benchmarks/stop_when.py [--trials 60] [--seeds 5] [--epochs N]
                                      [--experiments digits_mlp,breast_cancer_mlp,wine_mlp]
Quick check that it works: --trials 6 --seeds 1 --epochs 1 --experiments wine_mlp
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hpo.config.experiment import load_experiment  # noqa: E402
from hpo.config.stop_when import StopWhen  # noqa: E402
from hpo.sweep.stop_rules import Point, best_curve, evaluate, points  # noqa: E402

# the rules compared (each with the default min_trials unless it says otherwise)
RULES: dict[str, dict[str, Any]] = {
    "noise_aware": {"noise_aware": True},
    "no_improvement 15": {"no_improvement": {"trials": 15}},
    "no_improvement 20 (0.001)": {"no_improvement": {"trials": 20, "min_delta": 0.001}},
    "both": {"noise_aware": True, "no_improvement": {"trials": 20}},
}


def full_sweep(config: Path, seed: int, args: argparse.Namespace, cwd: str) -> list[Point]:
    """Run the whole budget once; its counted trials as the rules see them."""
    study = f"{config.stem}-s{seed}"
    command = [sys.executable, "-m", "hpo.cli", "run", str(config), "--study", study]
    command += ["--trials", str(args.trials), "--seed", str(seed), "--json", "--quiet"]
    command += ["--no-report"] + (["--epochs", str(args.epochs)] if args.epochs else [])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    json.loads(done.stdout)
    import optuna

    from hpo.study.ledger import LedgerTrial
    from hpo.study.storage import make_storage

    previous = os.getcwd()
    os.chdir(cwd)  # the default journal ledger sits in the working directory
    try:
        loaded = optuna.load_study(study_name=study, storage=make_storage(None))
        trials = [LedgerTrial.of(t) for t in loaded.trials]
    finally:
        os.chdir(previous)
    experiment = load_experiment(config).with_overrides(**{"seed": seed})
    return points(trials, experiment)


def replay(seen: list[Point], rule: StopWhen, budget: int) -> int:
    """How many trials the sweep runs with this rule (the budget when it never fires)."""
    for n in range(1, len(seen) + 1):
        if evaluate(seen[:n], rule, maximize=True, trials_left=budget - n) is not None:
            return n
    return len(seen)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None, help="default: the experiment's")
    parser.add_argument("--experiments", default="digits_mlp,breast_cancer_mlp,wine_mlp")
    args = parser.parse_args()
    rules = {name: StopWhen.model_validate(raw) for name, raw in RULES.items()}
    rows: dict[str, list[tuple[float, float]]] = {name: [] for name in rules}
    with tempfile.TemporaryDirectory() as cwd:
        for name in args.experiments.split(","):
            config = ROOT / "experiments" / f"{name}.yaml"
            for seed in range(args.seeds):
                seen = full_sweep(config, seed, args, cwd)
                full = best_curve(seen, maximize=True)[-1] or 0.0
                for rule_name, rule in rules.items():
                    n = replay(seen, rule, args.trials)
                    stopped = best_curve(seen[:n], maximize=True)[-1] or 0.0
                    saved = 1 - n / args.trials
                    lost = (full - stopped) / full if full else 0.0
                    rows[rule_name].append((saved, lost))
                    print(
                        f"{name} seed {seed} {rule_name}: stopped at {n}/{args.trials}, "
                        f"best f1 {stopped:.4f} vs {full:.4f}",
                        file=sys.stderr,
                    )
    print(f"{'rule':28} {'runs':>4} {'saved mean':>10} {'F1 lost mean':>12} {'worst':>7}")
    for rule_name, results in rows.items():
        saved = statistics.fmean(s for s, _ in results)
        lost = statistics.fmean(lo for _, lo in results)
        worst = max(lo for _, lo in results)
        print(f"{rule_name:28} {len(results):>4} {saved:>10.1%} {lost:>12.2%} {worst:>7.2%}")


if __name__ == "__main__":
    main()
