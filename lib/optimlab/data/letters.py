"""Synthetic letters A–Z, a–z in exactly the format of scikit-learn's digits: the source task for transfer learning.

The digits are 32×32 black-and-white bitmaps of handwriting, size-normalised (the writing's bounding
box fills the 32×32 box, aspect kept), then cut into 4×4 blocks whose ink pixels are counted (0..16).
We make letters the same way, from fonts that ship inside matplotlib (nothing is downloaded):

1. **Fonts**: every font in matplotlib's ``mpl-data/fonts/ttf`` whose glyph for each of the 52 letters
   carries that letter's name (22 with matplotlib 3.11: DejaVu Sans/Mono/Serif, STIXGeneral, Computer
   Modern). The rule drops fonts that map letters to symbols (``cmsy10``, ``cmex10``) or to a
   placeholder (``LastResortHE``). Sorted by file name, so label and font order are fixed.
2. **Render** each glyph once with matplotlib's FreeType (``FT2Font``, the engine behind Agg) at
   64 px per em, grey levels in [0, 1].
3. **Distort** each sample: rotation ±15°, horizontal shear ±0.3, width ×[0.75, 1.33] and a stroke
   thickness (dilating the thresholded bitmap by 0, 1 or 2 pixels), all drawn from a seeded NumPy
   generator.
4. **Normalise** the distorted glyph's bounding box into the 32×32 box (minus the room the dilation
   needs), centred, aspect kept; sample it bilinearly, threshold at a random level in [0.35, 0.65].
5. **Count** ink in 4×4 blocks (0..16) and divide by 16, as :func:`optimlab.data.digits.load_digits_split`
   does. ``X`` is ``(n, 64)`` float32 in [0, 1], ``y`` int64 in 0..51 (``LETTERS[y]`` is the letter).

Size normalisation makes some pairs identical in this format (c/C, o/O, s/S, v/V, x/X, z/Z, l/I ...),
so no model reaches 100 %: about 85 % is what a small CNN gets. The held-out test set
(:func:`letters_test_set`) uses the same fonts with distortions from a separate random stream: it
measures how much of the source task a network still solves, not generalisation to new fonts.

Taught in: notebooks/11_transfer_learning.ipynb.
"""

from __future__ import annotations

import functools
import math
import string
from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib.ft2font import FT2Font, LoadFlags
from torch import Tensor
from torch.nn import functional as F

from optimlab.validation import check_choice, check_int

LETTERS = string.ascii_uppercase + string.ascii_lowercase
NUM_CLASSES = len(LETTERS)  # 52
SIDE = 32                   # the digits' bitmap side, before 4×4 block counting
BLOCK = 4
EM_PIXELS = 64              # glyphs are rendered once at this size, then resampled
CANVAS = 96                 # every rendered glyph sits centred in a CANVAS × CANVAS array
SPLITS = {"train": 0, "test": 1}  # separate random streams: the test set never repeats a training sample
CHUNK = 2048               # samples resampled at once (bounds the memory of the gathered glyphs)
TEST_PER_CLASS = 40         # 2,080 held-out letters
MAX_ROTATION_DEG, MAX_SHEAR, MAX_LOG_WIDTH = 15.0, 0.3, math.log(4 / 3)
THRESHOLDS = (0.35, 0.65)
DILATIONS, DILATION_PROBABILITIES = (0, 1, 2), (0.5, 0.4, 0.1)


def letter_fonts() -> list[Path]:
    """matplotlib's bundled fonts that draw all 52 letters (each glyph named after its letter), sorted by name.

    Taught in: notebooks/11_transfer_learning.ipynb.
    """
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return [path for path in sorted(folder.glob("*.ttf")) if _draws_every_letter(FT2Font(str(path)))]


def _draws_every_letter(font: FT2Font) -> bool:
    return all(font.get_glyph_name(font.get_char_index(ord(letter))) == letter for letter in LETTERS)


def _render(font: FT2Font, letter: str) -> np.ndarray:
    """One glyph as grey levels in [0, 1], centred in a CANVAS × CANVAS array."""
    font.set_size(EM_PIXELS, 72)  # 72 dpi: one point is one pixel
    font.set_text(letter, 0.0, flags=LoadFlags.NO_HINTING)
    font.draw_glyphs_to_bitmap(antialiased=True)
    glyph = np.asarray(font.get_image(), dtype=np.float32) / 255.0
    rows, cols = np.nonzero(glyph > 0)
    glyph = glyph[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    canvas = np.zeros((CANVAS, CANVAS), dtype=np.float32)
    top, left = (CANVAS - glyph.shape[0]) // 2, (CANVAS - glyph.shape[1]) // 2
    canvas[top:top + glyph.shape[0], left:left + glyph.shape[1]] = glyph
    return canvas


@functools.lru_cache(maxsize=1)
def glyph_masters() -> tuple[Tensor, np.ndarray]:
    """Every (font, letter) glyph, font-major: ``masters[f * 52 + c]``, and the outline points of each one's ink.

    The outline points are the corners of the leftmost and rightmost ink pixel of every row: their convex
    hull is the ink's, so under a linear map their bounding box is the distorted glyph's, found without
    resampling it. Padded to one length by repeating the first point: ``(masters, points, 2)``, (x, y)
    from the canvas centre. Cached (~0.3 s).

    Taught in: notebooks/11_transfer_learning.ipynb.
    """
    masters, outlines = [], []
    for path in letter_fonts():
        font = FT2Font(str(path))
        for letter in LETTERS:
            canvas = _render(font, letter)
            ink = canvas > 0.5
            rows = np.flatnonzero(ink.any(1))
            left, right = ink[rows].argmax(1), CANVAS - ink[rows, ::-1].argmax(1)  # right: past the last pixel
            corners = [np.stack([x, rows + dy], 1) for x in (left, right) for dy in (0, 1)]
            masters.append(canvas)
            outlines.append(np.concatenate(corners) - CANVAS / 2)
    longest = max(len(points) for points in outlines)
    padded = np.stack([np.concatenate([p, np.repeat(p[:1], longest - len(p), 0)]) for p in outlines])
    return torch.from_numpy(np.stack(masters)).unsqueeze(1), padded


def _distortions(count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random linear maps (2×2): rotation · shear · width scale, applied to (x, y) pixel offsets."""
    angle = np.deg2rad(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG, count))
    shear = rng.uniform(-MAX_SHEAR, MAX_SHEAR, count)
    width = np.exp(rng.uniform(-MAX_LOG_WIDTH, MAX_LOG_WIDTH, count))
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    shear_and_width = np.zeros((count, 2, 2))
    shear_and_width[:, 0, 0], shear_and_width[:, 0, 1], shear_and_width[:, 1, 1] = width, shear, 1.0
    return rotation @ shear_and_width


def _sampling_maps(master_ids: np.ndarray, linear: np.ndarray, dilation: np.ndarray) -> Tensor:
    """For each sample, the affine map from output pixels to master pixels, as ``affine_grid``'s ``theta`` (n, 2, 3).

    Forward: q = A p (distort), then o = s (q − centre) with s fitting the bounding box of A·ink into
    SIDE − 2·dilation pixels (p and o measured from the canvas and output centres). Sampling needs the
    inverse, p = (A⁻¹/s) o + A⁻¹ centre, rescaled to grid_sample's [-1, 1] coordinates.
    """
    _, outlines = glyph_masters()
    moved = _apply(linear, outlines[master_ids])   # (n, points, 2): the distorted outline
    low, high = moved.min(1), moved.max(1)
    scales = (SIDE - 2 * dilation) / (high - low).max(1)
    inverse = np.linalg.inv(linear)
    theta = np.concatenate([inverse / scales[:, None, None] * (SIDE / CANVAS),
                            _apply(inverse, ((low + high) / 2)[:, None, :]).transpose(0, 2, 1) / (CANVAS / 2)], 2)
    return torch.from_numpy(theta).float()


def _apply(matrices: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``matrices[i] @ points[i, j]`` for (n, 2, 2) and (n, m, 2), written out (numpy's batched 2×2 matmul is slow)."""
    x, y = points[..., 0], points[..., 1]
    a, b, c, d = (matrices[:, i, j, None] for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))
    return np.stack([a * x + b * y, c * x + d * y], -1)


def _resample(glyphs: Tensor, theta: Tensor) -> Tensor:
    grid = F.affine_grid(theta, [len(glyphs), 1, SIDE, SIDE], align_corners=False)
    return F.grid_sample(glyphs, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _dilate(ink: Tensor, dilation: Tensor) -> Tensor:
    """Thicken strokes: each sample's ink grows by ``dilation`` pixels (3×3 max-filter, that many times)."""
    grown, out = ink, ink.clone()
    for radius in range(1, int(dilation.max()) + 1):
        grown = F.max_pool2d(grown, 3, stride=1, padding=1)
        out = torch.where((dilation == radius).view(-1, 1, 1, 1), grown, out)
    return out


def block_counts(bitmaps: Tensor) -> Tensor:
    """32×32 0/1 bitmaps ``(n, 1, 32, 32)`` → ink counts in 4×4 blocks, ``(n, 64)`` in 0..16 (the digits' format).

    Taught in: notebooks/11_transfer_learning.ipynb.
    """
    n = bitmaps.shape[0]
    return bitmaps.reshape(n, SIDE // BLOCK, BLOCK, SIDE // BLOCK, BLOCK).sum((2, 4)).reshape(n, -1)


def make_letters(n_per_class: int, seed: int, *, split: str = "train") -> tuple[Tensor, Tensor]:
    """``n_per_class`` distorted renderings of each of the 52 letters, shuffled, in the digits' format.

    Returns ``X`` float32 ``(52·n_per_class, 64)`` in [0, 1] (block counts / 16) and ``y`` int64 in
    0..51. Fonts are dealt out evenly within each letter. The same ``(seed, split)`` gives the same
    tensors; ``split="test"`` draws from a separate random stream, so it shares no sample with
    ``"train"`` for any pair of seeds.

    Taught in: notebooks/11_transfer_learning.ipynb.
    """
    check_int("n_per_class", n_per_class, low=1)
    check_int("seed", seed, low=0)
    check_choice("split", split, SPLITS)
    rng = np.random.default_rng([SPLITS[split], seed])
    masters, _ = glyph_masters()
    num_fonts = len(masters) // NUM_CLASSES
    labels = np.repeat(np.arange(NUM_CLASSES), n_per_class)
    fonts = np.concatenate([np.resize(rng.permutation(num_fonts), n_per_class) for _ in range(NUM_CLASSES)])
    order = rng.permutation(len(labels))
    labels, master_ids = labels[order], fonts[order] * NUM_CLASSES + labels[order]
    linear = _distortions(len(labels), rng)
    dilation = rng.choice(DILATIONS, size=len(labels), p=DILATION_PROBABILITIES)
    threshold = rng.uniform(*THRESHOLDS, len(labels))
    theta = _sampling_maps(master_ids, linear, dilation)
    grey = torch.cat([_resample(masters[master_ids[i:i + CHUNK]], theta[i:i + CHUNK])
                      for i in range(0, len(labels), CHUNK)])
    ink = (grey > torch.from_numpy(threshold).float().view(-1, 1, 1, 1)).float()
    ink = _dilate(ink, torch.from_numpy(dilation))
    return block_counts(ink) / (BLOCK * BLOCK), torch.from_numpy(labels).long()


@functools.lru_cache(maxsize=1)
def _test_set() -> tuple[Tensor, Tensor]:
    return make_letters(TEST_PER_CLASS, seed=0, split="test")


def letters_test_set() -> tuple[Tensor, Tensor]:
    """The fixed held-out letters (40 per class, 2,080 in all): ``make_letters(40, seed=0, split="test")``.

    Cached; callers get clones, so nobody can change what the next caller sees.

    Taught in: notebooks/11_transfer_learning.ipynb.
    """
    X, y = _test_set()
    return X.clone(), y.clone()
