"""A folder of images, one sub-folder per class (the layout Keras's
`image_dataset_from_directory` reads): the file list and labels, never the pixels.

Every file is opened and decoded once here, before anything runs, so a corrupt or unreadable
image is one clear error listing all of them (or, with `skip_bad_files: true`, a warning and
the file left out) instead of a failed trial halfway through a sweep. The same pass hashes
each file's bytes: the dataset fingerprint is the sha256 of every relative path and its
content hash, so renaming, moving, adding or editing any image changes it.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hpo.data.images import IMAGE_EXTENSIONS, ImageArray
from hpo.errors import UserInputError, first_line

if TYPE_CHECKING:
    from hpo.config.data_config import DataConfig

SHOWN_BAD_FILES = 10


def list_images(root: Path) -> list[tuple[str, str]]:
    """(relative path, class) of every image file, classes = sub-folder names, sorted."""
    if not root.is_dir():
        raise UserInputError("folder not found", source=str(root), field="data.path")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    found = []
    for name in classes:
        for dirpath, dirnames, filenames in os.walk(root / name):
            dirnames.sort()
            for filename in sorted(filenames):
                if filename.lower().endswith(IMAGE_EXTENSIONS):
                    full = Path(dirpath) / filename
                    found.append((full.relative_to(root).as_posix(), name))
    if not found:
        raise UserInputError(
            f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in class sub-folders "
            "(expected DIR/<class>/<image>)",
            source=str(root),
            field="data.path",
        )
    return found


def _problem(path: Path) -> tuple[str | None, bytes]:
    """Why the file cannot be used as an image (None when it decodes), and its bytes."""
    from PIL import Image

    try:
        content = path.read_bytes()
    except OSError as err:
        return f"unreadable: {err.strerror or first_line(err)}", b""
    try:
        with Image.open(io.BytesIO(content)) as image:
            image.load()
    except Exception as err:  # Pillow raises OSError, SyntaxError, ValueError, ...
        return first_line(err), content
    return None, content


def scan(root: Path, skip_bad_files: bool) -> tuple[list[tuple[str, str]], str]:
    """The usable (relative path, class) pairs and the folder digest; bad files are one
    error naming them all, or a warning when `skip_bad_files`."""
    good, bad = [], []
    digest = hashlib.sha256()
    for relative, label in list_images(root):
        problem, content = _problem(root / relative)
        if problem is not None:
            bad.append(f"{relative} ({problem})")
            continue
        good.append((relative, label))
        digest.update(relative.encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(content).digest())
    if bad:
        shown = "; ".join(bad[:SHOWN_BAD_FILES])
        more = f"; and {len(bad) - SHOWN_BAD_FILES} more" if len(bad) > SHOWN_BAD_FILES else ""
        what = f"{len(bad)} image file{'s' if len(bad) != 1 else ''} cannot be decoded"
        if not skip_bad_files:
            raise UserInputError(
                f"{what}: {shown}{more}; fix or remove them, or set skip_bad_files: true",
                source=str(root),
                field="data.path",
            )
        warnings.warn(f"{root}: skipping {what}: {shown}{more}", UserWarning, stacklevel=2)
    if not good:
        raise UserInputError("no image file can be decoded", source=str(root), field="data.path")
    return good, digest.hexdigest()


def generate_once(root: Path, count: int, size: int) -> None:
    """Write the generated digit folder (`demo_images`) atomically: built beside `root`,
    then renamed, so a concurrent reader sees all of it or nothing."""
    import shutil
    import tempfile

    from hpo.data.make_images import make_images

    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        make_images(staging, count=count, size=size)
        staging.rename(root)
    except OSError:
        if not root.is_dir():  # not "another process made it first"
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load(config: DataConfig, seed: int) -> tuple[ImageArray, np.ndarray]:
    assert config.path is not None and config.image_size is not None
    root = Path(config.path)
    if config.demo_images and not root.exists():
        try:
            generate_once(root, config.demo_images, config.image_size[0])
        except OSError as err:
            raise UserInputError(
                f"cannot write the demo images: {first_line(err)}",
                source=str(root),
                field="data.demo_images",
            ) from None
    files, digest = scan(root, bool(config.skip_bad_files))
    channels = 1 if config.color_mode == "grayscale" else 3
    size = (int(config.image_size[0]), int(config.image_size[1]))
    images = ImageArray(str(root.resolve()), tuple(f for f, _ in files), size, channels, digest)
    return images, np.array([label for _, label in files])
