"""Write an image folder hpo can train on, from data it already has: nothing is downloaded.

    python -m hpo.data.make_images DIR [--count 600] [--size 32] [--classes 10] [--seed 0]

scikit-learn's bundled 8x8 digits (1,797 of them) are upscaled to `--size`, shifted by a
pixel or two, given a random ink colour and background noise, and saved as PNG files in
DIR/<digit>/<n>.png; asking for more images than there are digits reuses them with new
jitter. The same arguments write the same bytes, so the folder's fingerprint is stable.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def _render(digit: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """One 8x8 digit (0-16) as a size x size RGB uint8 image with jitter and noise."""
    from PIL import Image

    grey = Image.fromarray((digit * (255 / 16)).astype(np.uint8), mode="L")
    big = np.asarray(grey.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)
    shift = rng.integers(-max(1, size // 16), max(1, size // 16) + 1, size=2)
    big = np.roll(big, tuple(int(s) for s in shift), axis=(0, 1)) / 255.0
    ink = rng.uniform(0.5, 1.0, size=3)
    background = rng.uniform(0.0, 0.25, size=3)
    rgb = background + big[..., np.newaxis] * (ink - background)
    rgb += rng.normal(0.0, 0.03, size=rgb.shape)
    return np.clip(rgb * 255.0, 0, 255).astype(np.uint8)


def make_images(
    folder: str | Path, count: int = 600, size: int = 32, classes: int = 10, seed: int = 0
) -> Path:
    """Write `count` PNG images (classes balanced) under `folder`; returns the folder."""
    from PIL import Image
    from sklearn.datasets import load_digits

    if not 2 <= classes <= 10:
        raise ValueError("classes must be between 2 and 10")
    bunch = load_digits()
    keep = bunch.target < classes
    digits, labels = bunch.images[keep], bunch.target[keep]
    rng = np.random.default_rng(seed)
    root = Path(folder)
    # round-robin over the classes, each class's digits in a seeded order (reused with new
    # jitter when there are not enough), so every class gets count / classes images
    pools = [rng.permutation(np.flatnonzero(labels == c)) for c in range(classes)]
    order = [pools[n % classes][(n // classes) % len(pools[n % classes])] for n in range(count)]
    for n, index in enumerate(order):
        target = root / str(int(labels[index]))
        target.mkdir(parents=True, exist_ok=True)
        pixels = _render(digits[index], size, rng)
        Image.fromarray(pixels, mode="RGB").save(target / f"{n:05d}.png")
    return root


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--count", type=int, default=600)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    root = make_images(args.folder, args.count, args.size, args.classes, args.seed)
    print(f"wrote {args.count} images of {args.size}x{args.size} to {root}/")


if __name__ == "__main__":
    main()
