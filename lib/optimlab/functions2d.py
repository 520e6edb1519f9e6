"""Two-dimensional test functions, and the trajectory any optimizer takes on them.

Each function is a small object: ``fn(xy)`` is its value, ``fn.grad(xy)`` its analytic gradient
(checked against autograd in the tests), both for one point of shape ``(2,)`` or a batch ``(..., 2)``
such as a contour grid. ``fn.minimum`` / ``fn.min_value`` locate the minimum, ``fn.bounds`` is a
sensible plotting window ``((x_min, x_max), (y_min, y_max))`` and ``fn.start`` a starting point
that shows the function's difficulty.

=====================  ========================================================================
function               what it teaches
=====================  ========================================================================
``quadratic(κ)``       ill-conditioning: a narrow valley; plain GD zig-zags, diverges beyond 2/L
``rosenbrock()``       a curved, flat-bottomed valley (Rosenbrock, 1960)
``saddle()``           a saddle point between two minima: GD lingers there, momentum escapes
``beale()``            sharp ridges and flat plateaus (Beale, 1958)
=====================  ========================================================================

:func:`run_optimizer` drives any ``torch.optim.Optimizer``-compatible optimizer (the course's or
torch's) over a function and returns its trajectory; :func:`steps_to_reach` reads off how many
steps it took to get within a tolerance of the minimum value.

Taught in: notebooks/04_sgd_momentum_nesterov.ipynb, notebooks/05_adaptive_methods.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from optimlab.validation import check_int, check_non_negative, check_number, check_positive, invalid

DTYPE = torch.float64  # trajectories in float64, so divergence and tiny tolerances are the math's, not rounding's
Bounds = tuple[tuple[float, float], tuple[float, float]]


class Function2D:
    """Base class: a subclass defines ``value(x, y)`` and ``partials(x, y)`` on broadcast tensors."""

    name = "function"

    def __init__(self, *, minimum: Sequence[float], min_value: float, bounds: Bounds, start: Sequence[float]):
        self.minimum = torch.tensor(minimum, dtype=DTYPE)
        self.min_value = float(min_value)
        self.bounds = bounds
        self.start = torch.tensor(start, dtype=DTYPE)

    def value(self, x: Tensor, y: Tensor) -> Tensor:
        raise NotImplementedError

    def partials(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def __call__(self, xy: Tensor) -> Tensor:
        xy = _check_points(xy)
        return self.value(xy[..., 0], xy[..., 1])

    def grad(self, xy: Tensor) -> Tensor:
        """∇f at ``xy``, the same shape as ``xy`` (analytic: no autograd)."""
        xy = _check_points(xy)
        return torch.stack(self.partials(xy[..., 0], xy[..., 1]), dim=-1)

    def __repr__(self) -> str:
        return f"{self.name}(minimum={self.minimum.tolist()}, min_value={self.min_value})"


def _check_points(xy: Tensor) -> Tensor:
    if not isinstance(xy, Tensor) or xy.ndim == 0 or xy.shape[-1] != 2:
        shape = tuple(xy.shape) if isinstance(xy, Tensor) else type(xy).__name__
        raise invalid("xy", shape, "a tensor of shape (2,) or (..., 2)")
    return xy


class Quadratic(Function2D):
    r"""f(θ) = ½ θᵀ H θ with H's eigenvalues L (steep, along y) and L/κ (shallow, along x), rotated by ``angle``.

    ``L`` is the gradient's Lipschitz constant (the largest eigenvalue), ``mu`` the smallest, and
    ``condition_number`` κ = L/μ. Gradient descent with learning rate γ multiplies the error along an
    eigenvector of eigenvalue λ by (1 − γλ) each step, so it converges iff γ < 2/L.
    """

    name = "quadratic"

    def __init__(self, condition_number: float = 10.0, largest_eigenvalue: float = 1.0, angle: float = 0.0):
        self.condition_number = check_number("condition_number", condition_number, low=1.0)
        self.L = check_positive("largest_eigenvalue", largest_eigenvalue)
        self.mu = self.L / self.condition_number
        self.angle = check_number("angle", angle)
        c, s = math.cos(angle), math.sin(angle)
        rotation = torch.tensor([[c, -s], [s, c]], dtype=DTYPE)
        self.hessian = rotation @ torch.diag(torch.tensor([self.mu, self.L], dtype=DTYPE)) @ rotation.T
        self._entries = self.hessian.tolist()  # python floats: the hot loop avoids tensor indexing
        start = rotation @ torch.tensor([-4.0, 1.5], dtype=DTYPE)  # far along the shallow axis
        bounds = ((-4.5, 4.5), (-2.0, 2.0)) if angle == 0 else ((-4.5, 4.5), (-4.5, 4.5))
        super().__init__(minimum=(0.0, 0.0), min_value=0.0, bounds=bounds, start=start.tolist())

    def value(self, x: Tensor, y: Tensor) -> Tensor:
        (a, b), (_, d) = self._entries
        return 0.5 * (a * x * x + 2 * b * x * y + d * y * y)  # ½ θᵀHθ

    def partials(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        (a, b), (_, d) = self._entries
        return a * x + b * y, b * x + d * y  # Hθ


class Rosenbrock(Function2D):
    """f(x, y) = (a − x)² + b (y − x²)²: minimum 0 at (a, a²), at the end of a long curved valley."""

    name = "rosenbrock"

    def __init__(self, a: float = 1.0, b: float = 100.0):
        self.a = check_number("a", a)
        self.b = check_positive("b", b)
        span = max(2.0, abs(a) + 1.0)
        super().__init__(
            minimum=(a, a * a), min_value=0.0, bounds=((-span, span), (-1.0, a * a + 2.0)), start=(-1.5, 2.0),
        )

    def value(self, x: Tensor, y: Tensor) -> Tensor:
        return (self.a - x) ** 2 + self.b * (y - x * x) ** 2

    def partials(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        inner = y - x * x
        return -2 * (self.a - x) - 4 * self.b * x * inner, 2 * self.b * inner


class Saddle(Function2D):
    """f(x, y) = x² + y⁴/4 − y²/2: a saddle at the origin between two minima (0, ±1), f = −1/4.

    Near the origin it is x² − y²/2, the textbook saddle; the quartic term makes the minima reachable.
    The start lies almost on the saddle's stable direction (y ≈ 0), so gradient descent first runs
    into the saddle and then takes long to leave it. ``minimum`` is (0, 1), the one reached from the
    start; ``minima`` holds both.
    """

    name = "saddle"

    def __init__(self) -> None:
        super().__init__(minimum=(0.0, 1.0), min_value=-0.25, bounds=((-2.0, 2.0), (-1.6, 1.6)), start=(-1.8, 1e-3))
        self.minima = torch.tensor([[0.0, 1.0], [0.0, -1.0]], dtype=DTYPE)

    def value(self, x: Tensor, y: Tensor) -> Tensor:
        return x * x + 0.25 * y**4 - 0.5 * y * y

    def partials(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return 2 * x, y**3 - y


class Beale(Function2D):
    """f(x, y) = Σᵢ (cᵢ − x + x yⁱ)², c = (1.5, 2.25, 2.625): minimum 0 at (3, 0.5); steep ridges, flat plateaus."""

    name = "beale"
    COEFFICIENTS = (1.5, 2.25, 2.625)

    def __init__(self) -> None:
        super().__init__(minimum=(3.0, 0.5), min_value=0.0, bounds=((-0.5, 4.5), (-1.5, 2.0)), start=(1.0, 1.4))

    def value(self, x: Tensor, y: Tensor) -> Tensor:
        first, *rest = [(c - x + x * y**i) ** 2 for i, c in enumerate(self.COEFFICIENTS, start=1)]
        for term in rest:
            first = first + term
        return first

    def partials(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        dx, dy = torch.zeros_like(x + y), torch.zeros_like(x + y)
        for i, c in enumerate(self.COEFFICIENTS, start=1):
            residual = c - x + x * y**i
            dx = dx + 2 * residual * (y**i - 1)  # ∂/∂x (cᵢ − x + x yⁱ)² = 2 rᵢ (yⁱ − 1)
            dy = dy + 2 * residual * i * x * y ** (i - 1)  # ∂/∂y = 2 rᵢ i x yⁱ⁻¹
        return dx, dy


def quadratic(condition_number: float = 10.0, largest_eigenvalue: float = 1.0, angle: float = 0.0) -> Quadratic:
    """An ill-conditioned quadratic ½θᵀHθ: eigenvalues L = ``largest_eigenvalue`` and L/``condition_number``."""
    return Quadratic(condition_number, largest_eigenvalue, angle)


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Rosenbrock:
    """Rosenbrock's banana valley (a − x)² + b(y − x²)², minimum at (a, a²)."""
    return Rosenbrock(a, b)


def saddle() -> Saddle:
    """x² + y⁴/4 − y²/2: a saddle at the origin, minima at (0, ±1)."""
    return Saddle()


def beale() -> Beale:
    """Beale's function, minimum 0 at (3, 0.5)."""
    return Beale()


def largest_stable_lr(hessian: Tensor, momentum: float = 0.0, nesterov: bool = False) -> float:
    r"""The learning rate beyond which (torch's) SGD diverges on the quadratic ½θᵀHθ.

    Along an eigenvector with eigenvalue λ, with h = γλ and momentum μ (no dampening):

    - plain gradient descent multiplies the error by (1 − h): stable iff h < 2, so γ < 2/L;
    - heavy ball has the characteristic polynomial z² − (1 + μ − h) z + μ: stable iff h < 2(1 + μ);
    - Nesterov (torch's form) has z² − (1 + μ − h(1 + μ)) z + μ(1 − h): stable iff h < 2(1 + μ)/(1 + 2μ).

    The largest eigenvalue L binds first. At exactly this rate the iterates oscillate without shrinking.
    """
    if not isinstance(hessian, Tensor) or hessian.shape != (2, 2):
        raise invalid("hessian", getattr(hessian, "shape", hessian), "a 2x2 tensor")
    check_number("momentum", momentum, low=0.0, high=1.0, high_inclusive=False)
    L = torch.linalg.eigvalsh(hessian.to(DTYPE)).max().item()
    if L <= 0:
        raise invalid("hessian", hessian.tolist(), "a matrix with a positive eigenvalue")
    if nesterov:
        return 2 * (1 + momentum) / ((1 + 2 * momentum) * L)
    return 2 * (1 + momentum) / L


def run_optimizer(
    fn: Function2D,
    make_optimizer: Callable[[list[Tensor]], torch.optim.Optimizer],
    start: Sequence[float] | Tensor | None = None,
    steps: int = 100,
) -> Tensor:
    """The trajectory, shape ``(steps + 1, 2)`` (row 0 is the start), of ``make_optimizer([xy])`` on ``fn``.

    ``make_optimizer`` receives a one-element list holding the float64 parameter ``xy`` and returns
    any optimizer with torch's interface, e.g. ``lambda p: torch.optim.SGD(p, lr=0.1)``. Each step sets
    ``xy.grad`` to the analytic gradient and calls ``optimizer.step()``. Once the point stops being
    finite (divergence) the remaining rows are NaN. ``start`` defaults to ``fn.start``.
    """
    check_int("steps", steps, low=0)
    start = fn.start if start is None else torch.as_tensor(start, dtype=DTYPE)
    xy = torch.nn.Parameter(_check_points(start).detach().clone().to(DTYPE).reshape(2))
    optimizer = make_optimizer([xy])
    points = [xy.detach().tolist()]
    for _ in range(steps):
        xy.grad = fn.grad(xy.detach())
        optimizer.step()
        point = xy.detach().tolist()
        if not all(map(math.isfinite, point)):
            break
        points.append(point)
    points += [[math.nan, math.nan]] * (steps + 1 - len(points))
    return torch.tensor(points, dtype=DTYPE)


def steps_to_reach(trajectory: Tensor, fn: Function2D, tol: float) -> int | None:
    """The first step t with f(θₜ) − f* ≤ ``tol``, or None if the trajectory never gets there."""
    check_non_negative("tol", tol)
    gap = fn(trajectory) - fn.min_value
    reached = torch.nonzero(gap <= tol)  # NaN rows (after divergence) compare False
    return int(reached[0, 0]) if len(reached) else None


__all__ = [
    "Beale", "Function2D", "Quadratic", "Rosenbrock", "Saddle", "beale", "largest_stable_lr", "quadratic",
    "rosenbrock", "run_optimizer", "saddle", "steps_to_reach",
]
