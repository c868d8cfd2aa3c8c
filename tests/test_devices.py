"""`--devices`: discovery (a fake GPU list), assignment to pool slots, and the environment
each training process really starts with. No GPU here: HPO_FAKE_GPUS stands in for one.

The device tag of real trials is checked in tests/test_resources.py (one shared sweep).
"""

from __future__ import annotations

import pytest

from hpo.cli.options import workers_for
from hpo.errors import UserInputError
from hpo.sweep.devices import FAKE_GPUS_ENV, Device, assign, parse, visible_gpus
from hpo.sweep.pool import RecyclingPool
from hpo.trial.placement import CUDA_VISIBLE, device_label
from tests.device_helpers import pin, visible


def test_auto_takes_every_visible_gpu_else_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAKE_GPUS_ENV, "0")
    assert parse("auto") == [Device(None)]
    monkeypatch.setenv(FAKE_GPUS_ENV, "3")
    assert visible_gpus() == ["0", "1", "2"]
    assert [d.label for d in parse("auto")] == ["gpu:0", "gpu:1", "gpu:2"]
    assert parse("cpu") == [Device(None)]
    assert [d.gpu for d in parse(" 2,0 ")] == ["2", "0"]


@pytest.mark.parametrize(
    ("spec", "problem"),
    [("5", "GPU 5 is not visible"), ("0,0", "names a GPU twice"), ("gpu0", "write auto, cpu")],
)
def test_bad_device_lists_are_one_line_errors(
    monkeypatch: pytest.MonkeyPatch, spec: str, problem: str
) -> None:
    monkeypatch.setenv(FAKE_GPUS_ENV, "2")
    with pytest.raises(UserInputError, match=problem) as err:
        parse(spec)
    assert err.value.field == "--devices"


def test_slots_share_devices_by_trials_per_device(monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = [Device("0"), Device("1")]
    assert [d.gpu for d in assign(gpus, 4, trials_per_device=2)] == ["0", "0", "1", "1"]
    assert [d.gpu for d in assign(gpus, 3)] == ["0", "1", "0"]  # more workers: wrap around
    monkeypatch.setenv(FAKE_GPUS_ENV, "2")
    assert workers_for(None, "auto", 3) == 6  # --workers defaults to every place
    assert workers_for(1, "auto", 3) == 1
    monkeypatch.setenv(FAKE_GPUS_ENV, "0")
    assert workers_for(None, "auto", 1) == 1  # the CPU: one process, as before


def test_the_environment_pins_the_process_and_grows_gpu_memory() -> None:
    assert Device("1").env() == {CUDA_VISIBLE: "1", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
    assert Device(None).env() == {CUDA_VISIBLE: "-1"}
    assert device_label({CUDA_VISIBLE: "0,1"}) == "gpu:0,1"
    assert device_label({CUDA_VISIBLE: "-1"}) == "cpu" and device_label({}) == "any"


def test_each_pool_slot_starts_its_processes_on_its_device() -> None:
    devices = assign([Device("0"), Device("1")], 3)
    pool = RecyclingPool(3, 10, pin, (), slot_initargs=[(d.env(),) for d in devices])
    try:
        seen = [slot.submit(visible).result(timeout=120) for slot in pool.slots]
    finally:
        pool.kill()
    assert seen == ["gpu:0", "gpu:1", "gpu:0"]
