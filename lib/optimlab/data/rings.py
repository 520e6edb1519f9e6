"""A ring of 2-D Gaussians, the classic toy data for GANs, and the mode-coverage metric that goes with it.

``modes`` small Gaussian blobs sit evenly on a circle. A generator that has learned the data puts
samples on *every* blob; one that has *collapsed* puts them on a few (or between blobs). Two numbers
say which (Metz et al., *Unrolled Generative Adversarial Networks*, ICLR 2017, section 3.1;
Srivastava et al., *VEEGAN*, NeurIPS 2017, table 1):

- **modes covered**: how many blobs receive at least ``min_fraction`` of all generated samples within
  ``n_std`` standard deviations of their centre;
- **high quality**: the fraction of generated samples that lie within ``n_std`` standard deviations of
  *some* centre.

Deviation from the papers: they count a mode as covered when *any* high-quality sample lands on it;
here a mode needs a minimum share of the samples (a quarter of its fair share by default), so that a
handful of stray points does not count a mode the generator has in fact dropped.

Taught in: notebooks/08_two_optimizers_gan.ipynb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from optimlab.validation import check_int, check_number, check_positive, invalid


def ring_centers(modes: int = 8, radius: float = 2.0, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """The ``(modes, 2)`` centres on the circle of ``radius``, the first at angle 0, counter-clockwise.

    Taught in: notebooks/08_two_optimizers_gan.ipynb.
    """
    check_int("modes", modes, low=1)
    check_positive("radius", radius)
    angles = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).to(dtype)


def ring_of_gaussians(
    n: int,
    modes: int = 8,
    radius: float = 2.0,
    std: float = 0.05,
    *,
    seed: int,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    r"""``n`` points from an equal mixture of ``modes`` isotropic Gaussians on a circle: shape ``(n, 2)``.

    .. math::
        k \sim \mathcal{U}\{0, \dots, K-1\}, \quad
        x = r\,(\cos \tfrac{2\pi k}{K}, \sin \tfrac{2\pi k}{K}) + σ ε, \quad ε \sim \mathcal{N}(0, I_2)

    with :math:`K` = ``modes``, :math:`r` = ``radius``, :math:`σ` = ``std``. Drawn in float64 from its own
    generator seeded with ``seed`` (the global generator is untouched), then cast to ``dtype``.

    Taught in: notebooks/08_two_optimizers_gan.ipynb.
    """
    check_int("n", n, low=1)
    check_positive("std", std)
    check_int("seed", seed, low=0)
    centers = ring_centers(modes, radius, dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    which = torch.randint(modes, (n,), generator=generator)
    noise = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return (centers[which] + std * noise).to(dtype)


@dataclass(frozen=True)
class ModeCoverage:
    """How well a set of samples covers the ring: see the module docstring.

    Taught in: notebooks/08_two_optimizers_gan.ipynb.
    """

    modes_covered: int
    high_quality: float  # fraction of samples within n_std standard deviations of some centre
    share_per_mode: tuple[float, ...]  # fraction of all samples near each centre, in ring order


def mode_coverage(
    samples: Tensor,
    modes: int = 8,
    radius: float = 2.0,
    std: float = 0.05,
    *,
    n_std: float = 3.0,
    min_fraction: float | None = None,
) -> ModeCoverage:
    """Count the modes that ``samples`` (shape ``(n, 2)``) cover, and the fraction of high-quality samples.

    A sample is *near* a centre when its distance is at most ``n_std * std``. A mode is *covered* when at
    least ``min_fraction`` of all samples are near it; the default is a quarter of a mode's fair share,
    ``0.25 / modes``. With ``n_std * std`` less than half the distance between neighbouring centres, a
    sample is near at most one centre.

    Taught in: notebooks/08_two_optimizers_gan.ipynb.
    """
    if not isinstance(samples, Tensor) or samples.ndim != 2 or samples.shape[1] != 2 or len(samples) == 0:
        shape = tuple(samples.shape) if isinstance(samples, Tensor) else type(samples).__name__
        raise invalid("samples", shape, "a tensor of shape (n, 2) with n >= 1")
    check_positive("std", std)
    check_positive("n_std", n_std)
    min_fraction = 0.25 / check_int("modes", modes, low=1) if min_fraction is None else min_fraction
    check_number("min_fraction", min_fraction, low=0.0, high=1.0, low_inclusive=False)
    centers = ring_centers(modes, radius, dtype=torch.float64)
    distances = torch.cdist(samples.detach().to("cpu", torch.float64), centers)  # (n, modes)
    nearest_distance, nearest = distances.min(dim=1)
    near = nearest_distance <= n_std * std
    share = torch.bincount(nearest[near], minlength=modes).to(torch.float64) / len(samples)
    return ModeCoverage(
        modes_covered=int((share >= min_fraction).sum()),
        high_quality=float(near.to(torch.float64).mean()),
        share_per_mode=tuple(share.tolist()),
    )
