"""Every name hpo writes to MLflow: the README's "MLflow schema" section, in code.

The README is the contract users and their tools read; tests/test_tracking_schema.py checks
that every `hpo.*` name here is documented there and that every tag the schema section names
is here. Write and read tags through these constants, never as string literals.
"""

from __future__ import annotations

# ---------------------------------------------------------------- every hpo run
KIND = "hpo.kind"
KIND_SWEEP = "sweep"
KIND_TRIAL = "trial"
KIND_COMPARISON = "comparison"  # the parent run of `hpo compare`
KIND_RETRAIN = "retrain"  # `hpo promote --reevaluate/--refit`: a child run of a trial run
STUDY = "hpo.study"
STRATEGY = "hpo.strategy"

# ---------------------------------------------------------------- the sweep run
CONFIG_SHA256 = "hpo.config_sha256"
DATA_SHA256 = "hpo.data_sha256"
OBJECTIVE = "hpo.objective"  # the first objective's metric
DIRECTION = "hpo.direction"  # and its direction
OBJECTIVES = "hpo.objectives"  # every objective: "f1:maximize,n_params:minimize"
CONSTRAINTS = "hpo.constraints"  # "precision >= 0.9, ..."
AVERAGE = "hpo.average"
PRUNER = "hpo.pruner"
MODEL_BUILDER = "hpo.model_builder"
# a function given to hpo.run(builder=...): its name (tag) and its source (artifact)
BUILDER_FUNCTION = "hpo.builder_function"
BUILDER_ARTIFACT = "builder.py"
STORAGE = "hpo.storage"  # the ledger URL, password masked
BEST_RUN_ID = "hpo.best_run_id"
STOP_REASON = "hpo.stop_reason"  # the budget.stop_when rule that ended it early
STOP_DETAIL = "hpo.stop_detail"  # and why, in a sentence
CONFIG_ARTIFACT = "config.yaml"  # the config of the sweep's first run; hash: CONFIG_SHA256
# a resume under a different config keeps it too: config-<n>.yaml, hash in the tag + n
CONFIG_SHA256_PREFIX = "hpo.config_sha256_"


def config_artifact(n: int) -> str:
    """The n-th config a sweep ran under (1: `config.yaml`, then `config-2.yaml`, ...)."""
    return CONFIG_ARTIFACT if n == 1 else f"config-{n}.yaml"


# ---------------------------------------------------------------- a trial run
TRIAL = "hpo.trial"
STATE = "hpo.state"  # COMPLETE / PRUNED / FAIL
ERROR = "hpo.error"
MODEL = "hpo.model"
MODEL_LOGGED = "logged"
PRUNED_EPOCH = "hpo.pruned_epoch"
PRUNED_FOLD = "hpo.pruned_fold"  # under cv/repeats: fold runs trained (1-based)
# "raw": the trial's model scales raw rows itself (absent: a model logged by an earlier
# version, which expects rows scaled by `data.scaling` outside the model)
INPUT = "hpo.input"
INPUT_RAW = "raw"
WORKER = "hpo.worker"  # host:pid of the orchestrator that ran it
WORKER_PID = "hpo.worker_pid"  # the training process
DEVICE = "hpo.device"  # where it trained: cpu, gpu:<ids> (CUDA_VISIBLE_DEVICES), any
PEAK_RSS_SCOPE = "hpo.peak_rss_scope"  # peak_rss_mb of the trial, or the process lifetime
PRECISION_POLICY = "hpo.precision_policy"  # mixed_float16 / mixed_bfloat16 when mixed
MODEL_ARTIFACT = "model"
CONFUSION_ARTIFACT = "confusion_matrix.json"
PER_CLASS_ARTIFACT = "per_class.json"  # precision/recall/f1/support of every class
# inside the `model` artifact, so a registered version carries them (hpo/trial/model_extras.py)
THRESHOLD_FILE = "threshold.json"  # a binary trial's decision threshold (also metric `threshold`)
VAL_PREDICTIONS_FILE = "val_predictions.npz"  # y_true, probabilities: the report's curves

# ---------------------------------------------------------------- a retrain run
SEED = "hpo.seed"  # the Keras seed it trained with
REFIT = "hpo.refit"  # "true": trained on train + validation (also on the registered version)
REEVAL_MEAN_SUFFIX = "_reeval_mean"  # on the trial run: `<metric>_reeval_mean`, ...
REEVAL_STD_SUFFIX = "_reeval_std"
REEVAL_SEEDS = "reeval_seeds"

# ---------------------------------------------------------------- a comparison run
STRATEGIES = "hpo.strategies"

# ---------------------------------------------------------------- a registered model version
EXPERIMENT = "hpo.experiment"
SWEEP_RUN_ID = "hpo.sweep_run_id"
TRIAL_RUN_ID = "hpo.trial_run_id"
GIT_COMMIT = "hpo.git_commit"
GIT_COMMIT_SOURCE = "hpo.git_commit_source"
LIBRARY_VERSIONS = "hpo.library_versions"
MODEL_CARD = "hpo.model_card"
CONFUSION_MATRIX = "hpo.confusion_matrix"
TEST_METRIC_PREFIX = "hpo.test_"  # + metric name: hpo.test_f1, ...

# ---------------------------------------------------------------- MLflow's own tags hpo sets
PARENT_RUN_ID = "mlflow.parentRunId"
RUN_NAME = "mlflow.runName"
# the experiment's kind, as MLflow's own kind selector writes it: "custom_model_development"
# is its "Machine learning" kind (not GenAI). MLflow 3.17's UI picks its view from a global
# GenAI / Model training switch instead, so `hpo ui` links with ?workflowType=machine_learning
EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_KIND_TRAINING = "custom_model_development"
