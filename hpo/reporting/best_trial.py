"""The best trial's validation confusion matrix and per-class scores, for the report.

Trials log their confusion matrix (`confusion_matrix.json`), so the report reads it and never
needs TensorFlow; only sweeps logged before that have the best model evaluated again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hpo.reporting.html import Table


@dataclass
class BestTrial:
    trial: int
    run_id: str
    class_names: list[str]
    matrix: Any
    scores: dict[str, list[float]]

    def per_class_json(self) -> dict[str, Any]:
        return {"classes": self.class_names, **self.scores, "split": "validation"}

    def per_class_table(self) -> Table:
        return Table(
            f"Per-class scores, best trial {self.trial} (validation split)",
            ["class", "precision", "recall", "f1", "support"],
            [
                [name, p, r, f, int(s)]
                for name, p, r, f, s in zip(
                    self.class_names,
                    self.scores["precision"],
                    self.scores["recall"],
                    self.scores["f1"],
                    self.scores["support"],
                    strict=True,
                )
            ],
        )


def logged_confusion(tracking_uri: str, run_id: str, trial: int) -> BestTrial | None:
    """The validation confusion matrix the sweep logged with the trial (no model needed)."""
    import numpy as np

    from hpo.reporting.plots import per_class_scores
    from hpo.tracking.registry import Registry
    from hpo.tracking.schema import CONFUSION_ARTIFACT

    try:
        payload = json.loads(Registry(tracking_uri).read_text(run_id, CONFUSION_ARTIFACT))
    except Exception:  # a sweep from before the artifact existed
        return None
    matrix = np.asarray(payload["matrix"], dtype=int)
    names = [str(n) for n in payload["class_names"]]
    return BestTrial(trial, run_id, names, matrix, per_class_scores(matrix))


def evaluate_best(tracking_uri: str, run_id: str, trust_model: bool = False) -> BestTrial:
    """Confusion matrix of the best trial's logged model on the sweep's validation split
    (for sweeps logged before trials carried their confusion matrix; imports TensorFlow).
    A model that is not a plain Keras model is refused unless trusted (a note, no picture)."""
    from hpo.reporting.plots import per_class_scores
    from hpo.tracking.lineage import trained_on
    from hpo.tracking.registry import Registry
    from hpo.tracking.schema import MODEL_ARTIFACT
    from hpo.trial.predict import evaluate

    registry = Registry(tracking_uri)
    lineage = registry.lineage(run_id)
    trained = trained_on(lineage)
    data = trained.dataset
    model = registry.load_keras(f"runs:/{run_id}/{MODEL_ARTIFACT}", trust_model=trust_model)
    _, matrix = evaluate(model, data.x_val, data.y_val, trained.average)
    names = list(data.class_names)[: len(matrix)]
    names += [str(i) for i in range(len(names), len(matrix))]
    return BestTrial(lineage.trial, run_id, names, matrix, per_class_scores(matrix))
