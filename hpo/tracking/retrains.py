"""Retrain runs of `hpo promote --reevaluate/--refit`: child runs of the trial they retrain.

A retrain run (`hpo.kind=retrain`, parent: the trial run) holds its seed, its metrics and
its model, so the registry can hold a refit model with the trial's lineage; the trial run
gets the summary (`<metric>_reeval_mean`, `<metric>_reeval_std`, `reeval_seeds`) that
`hpo best --json` reports as its noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from mlflow import MlflowClient
from mlflow.entities import Metric

from hpo.tracking import schema
from hpo.tracking.store import now_ms


def log_retrain(
    client: MlflowClient,
    trial_run_id: str,
    *,
    trial: int,
    seed: int,
    metrics: Mapping[str, float],
    model_dir: str | None,
    refit: bool = False,
    rows: int | None = None,
) -> str:
    """One finished retrain as a child run of the trial run (its model uploaded if any)."""
    parent = client.get_run(trial_run_id)
    name = f"trial-{trial}-refit" if refit else f"trial-{trial}-seed-{seed}"
    tags = {
        schema.PARENT_RUN_ID: trial_run_id,
        schema.RUN_NAME: name,
        schema.KIND: schema.KIND_RETRAIN,
        schema.TRIAL: str(trial),
        schema.SEED: str(seed),
        schema.REFIT: "true" if refit else "false",
        schema.STUDY: parent.data.tags.get(schema.STUDY, ""),
    }
    run = client.create_run(parent.info.experiment_id, tags=tags, run_name=name)
    run_id = run.info.run_id
    now = now_ms()
    batch = [Metric(k, float(v), now, 0) for k, v in metrics.items() if math.isfinite(float(v))]
    if rows is not None:
        batch.append(Metric("train_rows", float(rows), now, 0))
    client.log_batch(run_id, metrics=batch, params=[])
    if model_dir is not None:
        client.log_artifacts(run_id, model_dir, schema.MODEL_ARTIFACT)
        client.set_tag(run_id, schema.MODEL, schema.MODEL_LOGGED)
    client.set_terminated(run_id, "FINISHED")
    return run_id


def log_reevaluation(
    client: MlflowClient, trial_run_id: str, metric: str, mean: float, std: float, seeds: int
) -> None:
    """The re-evaluation's summary on the trial run itself."""
    now = now_ms()
    client.log_batch(
        trial_run_id,
        metrics=[
            Metric(metric + schema.REEVAL_MEAN_SUFFIX, mean, now, 0),
            Metric(metric + schema.REEVAL_STD_SUFFIX, std, now, 0),
            Metric(schema.REEVAL_SEEDS, float(seeds), now, 0),
        ],
    )


def metric_history(client: MlflowClient, run_id: str, key: str) -> list[float]:
    """A per-step metric (e.g. `val_loss` per epoch), in step order."""
    return [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]
