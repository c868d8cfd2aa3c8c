"""Image folders (no Keras here): the file list, its split and fingerprint, bad files, limits."""

from __future__ import annotations

import pickle
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from hpo.config.data_config import DataConfig
from hpo.data.dataset import Dataset, load_dataset
from hpo.data.images import ImageArray, read_image, require_in_memory
from hpo.data.make_images import make_images
from hpo.errors import UserInputError
from tests.conftest import tiny_experiment


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_images(tmp_path_factory.mktemp("images") / "png", count=60, size=16, classes=3)


def _load(path: Path, seed: int = 0, **options: object) -> Dataset:
    options = {"image_size": (16, 16), **options}
    config = DataConfig(source="image_folder", path=str(path), **options)  # type: ignore[arg-type]
    return load_dataset(config, seed)


def _files(x: object) -> list[str]:
    assert isinstance(x, ImageArray)
    return list(x.files)


def test_split_is_stratified_seeded_and_disjoint(folder: Path) -> None:
    data = _load(folder)
    assert data.class_names == ("0", "1", "2")  # sub-folder names, sorted
    train, val, test = _files(data.x_train), _files(data.x_val), _files(data.x_test)
    assert len(set(train) | set(val) | set(test)) == 60 == len(train) + len(val) + len(test)
    for files, labels in ((train, data.y_train), (val, data.y_val), (test, data.y_test)):
        # each file's label is its folder; every class holds its share of every split
        assert [data.class_names[i] for i in labels] == [f.split("/")[0] for f in files]
        counts = Counter(labels.tolist())
        assert max(counts.values()) - min(counts.values()) <= 1 and len(counts) == 3
    again = _load(folder)
    assert _files(again.x_train) == train and again.fingerprint == data.fingerprint
    other = _load(folder, seed=1)
    assert _files(other.x_train) != train and other.fingerprint != data.fingerprint


def test_fingerprint_is_paths_and_contents_not_location(folder: Path, tmp_path: Path) -> None:
    original = _load(folder).fingerprint
    moved = shutil.copytree(folder, tmp_path / "elsewhere")
    assert _load(moved).fingerprint == original
    victim = sorted((moved / "1").iterdir())[0]
    victim.write_bytes(
        (moved / "2" / sorted(p.name for p in (moved / "2").iterdir())[0]).read_bytes()
    )
    edited = _load(moved).fingerprint
    assert edited != original
    victim.rename(victim.with_name("renamed.png"))
    assert _load(moved).fingerprint not in (original, edited)
    assert _load(folder, color_mode="grayscale").fingerprint != original


def test_splits_stay_files_and_decode_to_raw_pixels(folder: Path) -> None:
    data = _load(folder)
    assert data.input_shape == (16, 16, 3) and not data.is_text
    assert len(pickle.dumps(data)) < 20_000  # paths, not pixels, travel to the workers
    pixels = data.x_val[:4]
    assert pixels.shape == (4, 16, 16, 3) and pixels.dtype == np.uint8 and pixels.max() > 200
    first = Path(data.x_val.root) / _files(data.x_val)[0]  # type: ignore[attr-defined]
    assert np.array_equal(pixels[0], read_image(first, (16, 16), 3))
    assert np.array_equal(np.asarray(data.x_val), data.x_val[: len(data.y_val)])
    grey = _load(folder, color_mode="grayscale", image_size=(12, 10))
    assert grey.input_shape == (12, 10, 1) and grey.x_train[:2].shape == (2, 12, 10, 1)


def _spoil(folder: Path, tmp_path: Path) -> Path:
    spoiled = shutil.copytree(folder, tmp_path / "spoiled")
    (spoiled / "0" / "not_an_image.png").write_bytes(b"hello, I am text")
    good = sorted((spoiled / "1").iterdir())[0].read_bytes()
    (spoiled / "1" / "truncated.png").write_bytes(good[: len(good) // 2])
    return spoiled


def test_corrupt_files_exit_2_naming_each_before_anything_runs(
    folder: Path, workdir: Path, cli: object
) -> None:
    spoiled = _spoil(folder, workdir)
    config = tiny_experiment(
        **{"data": {"source": "image_folder", "path": str(spoiled), "image_size": [16, 16]}},
        **{"model.builder": "cnn"},
    )
    config["search_space"]["params"].pop("units")
    (workdir / "exp.yaml").write_text(yaml.safe_dump(config))
    done = cli("run", "exp.yaml")  # type: ignore[operator]
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for fragment in ("data.path", "2 image files", "0/not_an_image.png", "1/truncated.png"):
        assert fragment in lines[0]
    assert "skip_bad_files: true" in lines[0]
    assert not (workdir / "mlflow.db").exists()


def test_skip_bad_files_warns_and_goes_on(folder: Path, tmp_path: Path) -> None:
    spoiled = _spoil(folder, tmp_path)
    with pytest.warns(UserWarning, match="not_an_image.png.*truncated.png"):
        data = _load(spoiled, skip_bad_files=True)
    assert data.summary()["train"] + data.summary()["validation"] + data.summary()["test"] == 60
    assert data.fingerprint == _load(folder).fingerprint  # exactly the good files


def test_image_options_are_checked_and_old_configs_keep_their_hash() -> None:
    with pytest.raises(ValueError, match="needs 'image_size"):
        DataConfig(source="image_folder", path="x")
    with pytest.raises(ValueError, match="only for source 'image_folder'"):
        DataConfig(source="digits", color_mode="rgb")
    assert "image_size" not in DataConfig(source="digits").model_dump()


def test_an_empty_or_missing_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="folder not found"):
        _load(tmp_path / "nope")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(UserInputError, match="no image files"):
        _load(tmp_path / "empty")


def test_arrays_over_the_memory_limit_are_refused(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _load(folder)
    require_in_memory([data.x_train, data.x_val], "grid", "strategy.name")  # 48 small images
    monkeypatch.setenv("HPO_IMAGE_MEMORY_MB", "0.01")
    with pytest.raises(UserInputError, match=r"48 images would take .* over the 0\.0 MB limit"):
        require_in_memory([data.x_train, data.x_val], "grid", "strategy.name")


def test_demo_images_are_generated_once_on_first_use(tmp_path: Path) -> None:
    config = DataConfig(
        source="image_folder", path=str(tmp_path / "demo"), image_size=(16, 16), demo_images=60
    )
    first = load_dataset(config, 0)
    assert len(list((tmp_path / "demo").rglob("*.png"))) == 60
    assert load_dataset(config, 0).fingerprint == first.fingerprint
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # no staging folder left
