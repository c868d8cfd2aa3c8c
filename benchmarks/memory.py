"""Resident memory over a long sweep: no hpo process may grow > 300 MB past trial 10.

Runs `hpo run` for 200 trials x 1 epoch of the digits MLP, samples the resident memory
(VmRSS) of the orchestrator and of every training process twice a second, and reports for
each process its RSS when the 10th trial (of the sweep, or of that worker) finished and its
maximum afterwards. Workers are recycled every `budget.recycle_after` trials (default 50).

It also reports the gap between consecutive trials: from the end of one trial's training to
the start of the next one's (start = the ledger's completion time minus the trial's own
`trial_seconds`), and the gap at every recycle (target: under 1 s; the replacement process
is warmed up while the old one trains its last trial).
Usage: python benchmarks/memory.py [--trials 200] [--recycle-after 50]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--recycle-after", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "mem.yaml"
        raw = yaml.safe_load((ROOT / "experiments" / "digits_mlp.yaml").read_text())
        raw["search_space"] = str(ROOT / "search_spaces" / "mlp.yaml")
        raw["budget"].update(trials=args.trials, epochs=1, recycle_after=args.recycle_after)
        config.write_text(yaml.safe_dump(raw))
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hpo.cli",
                "run",
                str(config),
                "--json",
                "--quiet",
                "--study",
                "mem",
            ],
            cwd=tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        samples: dict[int, list[tuple[float, float]]] = defaultdict(list)
        while process.poll() is None:
            now = time.time()
            for pid in [process.pid, *children(process.pid)]:
                value = rss_mb(pid)
                if value is not None:
                    samples[pid].append((now, value))
            time.sleep(0.5)
        summary = json.loads(process.stdout.read() if process.stdout else "{}")

        from mlflow import MlflowClient

        client = MlflowClient(f"sqlite:///{tmp}/mlflow.db")
        sweep = client.get_run(summary["sweep_run_id"])
        runs = client.search_runs([sweep.info.experiment_id], max_results=5000)
        trials = sorted(
            (r for r in runs if r.data.tags.get("hpo.kind") == "trial"),
            key=lambda r: r.info.end_time,
        )
        completed = completion_times(Path(tmp) / "hpo-ledger.journal", "mem")
    by_worker: dict[int, list[float]] = defaultdict(list)
    for run in trials:
        by_worker[int(run.data.tags["hpo.worker_pid"])].append(run.info.end_time / 1000)

    def report(pid: int, label: str, tenth_end: float | None) -> dict[str, float]:
        series = samples.get(pid, [])
        if not series or tenth_end is None:
            return {}
        at_10 = next((v for t, v in series if t >= tenth_end), series[-1][1])
        peak = max(v for t, v in series if t >= tenth_end) if series[-1][0] >= tenth_end else at_10
        row = {"rss_at_trial_10_mb": at_10, "max_after_mb": peak, "growth_mb": peak - at_10}
        print(
            f"{label:<28} at trial 10 {at_10:7.0f} MB   max after {peak:7.0f} MB   "
            f"growth {peak - at_10:6.0f} MB"
        )
        return row

    print(f"{len(trials)} trials x 1 epoch, digits MLP, recycle_after={args.recycle_after}")
    rows = {"orchestrator": report(process.pid, "orchestrator", trials[9].info.end_time / 1000)}
    # the orchestrator's peak may come from the report drawn after the last trial: split it
    last_end = trials[-1].info.end_time / 1000
    series = samples.get(process.pid, [])
    during = [v for t, v in series if trials[9].info.end_time / 1000 <= t <= last_end]
    after = [v for t, v in series if t > last_end]
    if during:
        print(
            f"{'  of which during the sweep':<28} max {max(during):7.0f} MB   "
            f"at the last trial {during[-1]:7.0f} MB   "
            f"the report after it: max {max(after, default=float('nan')):7.0f} MB"
        )
    for pid, ends in by_worker.items():
        tenth = ends[9] if len(ends) >= 10 else None
        rows[f"worker {pid}"] = report(pid, f"worker {pid} ({len(ends)} trials)", tenth)
    worst = max((r.get("growth_mb", 0.0) for r in rows.values()), default=0.0)
    print(f"largest growth past trial 10: {worst:.0f} MB (limit 300 MB)")
    report_gaps(trials, completed)


def completion_times(journal: Path, study: str) -> dict[int, float]:
    """Trial number -> when the ledger recorded its result (epoch seconds)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    return {t.number: t.datetime_complete.timestamp() for t in trials if t.datetime_complete}


def report_gaps(runs: list, completed: dict[int, float]) -> None:
    """The idle time between consecutive trials (one worker), and its maximum at recycles."""
    rows = []
    for run in runs:
        number = int(run.data.tags["hpo.trial"])
        seconds = run.data.metrics.get("trial_seconds")
        if number in completed and seconds is not None:
            rows.append((number, completed[number] - seconds, completed[number], run))
    rows.sort(key=lambda row: row[0])
    gaps = []  # (trial number, gap before it, whether a new process trained it)
    for (_, _, prev_end, prev), (number, start, _, run) in pairwise(rows):
        recycled = run.data.tags.get("hpo.worker_pid") != prev.data.tags.get("hpo.worker_pid")
        gaps.append((number, start - prev_end, recycled))
    if not gaps:
        return
    steady = [gap for _, gap, recycled in gaps if not recycled]
    if steady:
        steady.sort()
        print(
            f"gap between trials (no recycle): median {steady[len(steady) // 2]:.3f} s, "
            f"max {steady[-1]:.3f} s"
        )
    for number, gap, recycled in gaps:
        if recycled:
            near = [g for n, g, _ in gaps if abs(n - number) <= 1]
            print(
                f"recycle before trial {number}: gap {gap:.3f} s (max around it {max(near):.3f} s)"
            )
    worst = max((gap for _, gap, recycled in gaps if recycled), default=None)
    if worst is not None:
        print(f"largest gap at a recycle: {worst:.3f} s (target < 1 s)")


if __name__ == "__main__":
    main()
