"""A small GAN trained with two optimizers, each owning only its half of the parameters.

A GAN (Goodfellow et al., *Generative Adversarial Nets*, NeurIPS 2014) is two networks in one model:

- the **generator** G maps noise :math:`z \\sim \\mathcal{N}(0, I)` to a sample :math:`G(z)`;
- the **discriminator** D maps a sample to a logit :math:`D(x)`; :math:`σ(D(x))` is its belief that x is real.

They play a game: D learns to tell real from generated, G learns to fool D. Each network minimises its
*own* loss, so each needs its own optimizer over *only its own* parameters (its own ``lr`` and ``betas``,
too: Radford et al., *DCGAN*, ICLR 2016, use Adam with ``lr=2e-4, betas=(0.5, 0.999)`` for both).

Why "only its own" matters: the generator's loss is computed *through* D, so ``g_loss.backward()``
fills the ``.grad`` of **every discriminator weight too**, with the gradient that would help the
generator (make D call fakes real). An optimizer over all parameters would step D along it. Hence:

- ``g_optimizer`` owns only G's parameters, so its ``step()`` leaves D bit-for-bit unchanged;
- ``d_optimizer`` owns only D's, and :func:`discriminator_step` zeroes D's gradients before its own
  backward pass, so the generator's leftover gradients never leak into D's update (``backward`` adds).

:func:`gan_step` checks the ownership of both optimizers and raises ``ValueError`` otherwise.

Taught in: notebooks/08_two_optimizers_gan.ipynb.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from optimlab.models import mlp
from optimlab.validation import check_int, invalid


class GAN(nn.Module):
    """``generator`` (latent_dim → hidden → hidden → 2) and ``discriminator`` (2 → hidden → hidden → 1).

    Both are ReLU MLPs from :func:`optimlab.models.mlp`, each initialised from its own seed drawn from
    ``seed`` (the global generator is untouched). One module holding both means ``gan.parameters()``
    is all of the model's parameters: exactly the generator's plus the discriminator's.

    Taught in: notebooks/08_two_optimizers_gan.ipynb.
    """

    def __init__(self, latent_dim: int = 2, hidden: int = 64, *, seed: int) -> None:
        super().__init__()
        self.latent_dim = check_int("latent_dim", latent_dim, low=1)
        check_int("hidden", hidden, low=1)
        check_int("seed", seed, low=0)
        g_seed, d_seed = torch.randint(2**31, (2,), generator=torch.Generator().manual_seed(seed)).tolist()
        self.generator = mlp(latent_dim, (hidden, hidden), 2, seed=g_seed)
        self.discriminator = mlp(2, (hidden, hidden), 1, seed=d_seed)

    def noise(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` latent vectors z ~ N(0, I), drawn from ``generator`` (a CPU generator), on the model's device."""
        device = next(self.parameters()).device
        return torch.randn(n, self.latent_dim, generator=generator).to(device)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` generated points, shape ``(n, 2)``, without a graph."""
        return self.generator(self.noise(n, generator))


def split_parameters(gan: GAN) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """``(generator parameters, discriminator parameters)``: what each of the two optimizers must own.

    Taught in: notebooks/08_two_optimizers_gan.ipynb.
    """
    return list(gan.generator.parameters()), list(gan.discriminator.parameters())


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""Binary cross-entropy with real labelled 1 and fake labelled 0, from logits.

    .. math:: L_D = -\mathbb{E}_x \log σ(D(x)) - \mathbb{E}_z \log(1 - σ(D(G(z))))
                  = \mathrm{mean}\,\mathrm{softplus}(-D(x)) + \mathrm{mean}\,\mathrm{softplus}(D(G(z)))

    (softplus form: :math:`-\log σ(a) = \mathrm{softplus}(-a)`, stable for large logits.)

    Taught in: notebooks/08_two_optimizers_gan.ipynb.
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: Tensor) -> Tensor:
    r"""The *non-saturating* generator loss :math:`L_G = -\mathbb{E}_z \log σ(D(G(z)))`.

    Goodfellow et al. (2014, section 3) propose it instead of the minimax :math:`\log(1 - σ(D(G(z))))`
    (``-softplus(fake_logits).mean()``, written out in the notebook's solutions), whose gradient vanishes
    early in training, when D rejects every fake with confidence; both push G the same way.

    Taught in: notebooks/08_two_optimizers_gan.ipynb.
    """
    return F.softplus(-fake_logits).mean()


def discriminator_step(gan: GAN, real: Tensor, optimizer: torch.optim.Optimizer, noise: Tensor) -> float:
    """One update of D on a real batch and a fake one; returns D's loss. G is not touched.

    Taught in: notebooks/08_two_optimizers_gan.ipynb.
    """
    fake = gan.generator(noise).detach()  # no graph into G: this step trains D only
    optimizer.zero_grad()  # drops the gradient the last generator step left in D's .grad
    loss = discriminator_loss(gan.discriminator(real), gan.discriminator(fake))
    loss.backward()
    optimizer.step()
    return loss.item()


def generator_step(gan: GAN, optimizer: torch.optim.Optimizer, noise: Tensor) -> float:
    """One update of G against the current D; returns G's loss.

    ``backward`` fills G's *and D's* ``.grad`` (the loss flows through D); ``optimizer`` must own only
    G's parameters so that D's are left exactly as they were.

    Taught in: notebooks/08_two_optimizers_gan.ipynb.
    """
    optimizer.zero_grad()
    loss = generator_loss(gan.discriminator(gan.generator(noise)))
    loss.backward()
    optimizer.step()
    return loss.item()


def check_owns(name: str, optimizer: torch.optim.Optimizer, parameters: Iterable[nn.Parameter], what: str) -> None:
    """Raise ``ValueError`` unless ``optimizer`` trains exactly ``parameters`` (no more, no fewer).

    Taught in: notebooks/08_two_optimizers_gan.ipynb.
    """
    owned = {id(p) for group in optimizer.param_groups for p in group["params"]}
    expected = {id(p) for p in parameters}
    if owned != expected:
        extra, missing = len(owned - expected), len(expected - owned)
        raise invalid(name, type(optimizer).__name__,
                      f"an optimizer over exactly the {what}'s parameters ({extra} extra, {missing} missing)")


def _check_both(gan: GAN, d_optimizer: torch.optim.Optimizer, g_optimizer: torch.optim.Optimizer) -> None:
    g_params, d_params = split_parameters(gan)
    check_owns("d_optimizer", d_optimizer, d_params, "discriminator")
    check_owns("g_optimizer", g_optimizer, g_params, "generator")


@dataclass(frozen=True)
class GanLosses:
    """The two losses of one :func:`gan_step`, as floats.

    Taught in: notebooks/08_two_optimizers_gan.ipynb.
    """

    discriminator: float
    generator: float


def gan_step(
    gan: GAN, real: Tensor, d_optimizer: torch.optim.Optimizer, g_optimizer: torch.optim.Optimizer,
    *, generator: torch.Generator,
) -> GanLosses:
    """One discriminator step, then one generator step on fresh noise from ``generator``; returns both losses.

    The generator's ``backward`` also fills D's ``.grad``: so ``g_optimizer`` must own only G's parameters
    (else it would step D to help G), and D's step zeroes D's gradients before its own ``backward``.
    Raises ``ValueError`` when ``d_optimizer`` does not own exactly D's parameters or ``g_optimizer``
    exactly G's.

    Taught in: notebooks/08_two_optimizers_gan.ipynb.
    """
    _check_both(gan, d_optimizer, g_optimizer)
    d_loss = discriminator_step(gan, real, d_optimizer, gan.noise(len(real), generator))
    g_loss = generator_step(gan, g_optimizer, gan.noise(len(real), generator))
    return GanLosses(discriminator=d_loss, generator=g_loss)


@dataclass
class GanHistory:
    """Per-step losses and generated samples (from one fixed noise batch) at the requested steps.

    Taught in: notebooks/08_two_optimizers_gan.ipynb.
    """

    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    snapshots: dict[int, Tensor] = field(default_factory=dict)


def train_gan(
    gan: GAN, data: Tensor, d_optimizer: torch.optim.Optimizer, g_optimizer: torch.optim.Optimizer,
    *, steps: int, batch_size: int = 256, seed: int = 0, snapshot_at: Iterable[int] = (), n_snapshot: int = 1000,
) -> GanHistory:
    """``steps`` calls of :func:`gan_step` on random batches of ``data`` (drawn with replacement).

    All randomness (batches, noise) comes from a generator seeded with ``seed``. At each step in
    ``snapshot_at`` (0 = before training) the history keeps ``n_snapshot`` generated points, always
    from the same noise, so snapshots show how one set of latent points moves.

    Taught in: notebooks/08_two_optimizers_gan.ipynb.
    """
    check_int("steps", steps, low=0)
    check_int("batch_size", batch_size, low=1)
    check_int("seed", seed, low=0)
    _check_both(gan, d_optimizer, g_optimizer)
    snapshot_at = set(snapshot_at)
    history = GanHistory()
    fixed_noise = gan.noise(check_int("n_snapshot", n_snapshot, low=1), torch.Generator().manual_seed(seed))
    randomness = torch.Generator().manual_seed(seed + 1)
    data = data.to(fixed_noise.device)
    for step in range(steps + 1):
        if step in snapshot_at:
            with torch.no_grad():
                history.snapshots[step] = gan.generator(fixed_noise).cpu()
        if step == steps:
            break
        batch = data[torch.randint(len(data), (batch_size,), generator=randomness).to(data.device)]
        # gan_step's two halves, without re-checking ownership at every step (checked once above)
        history.d_loss.append(discriminator_step(gan, batch, d_optimizer, gan.noise(batch_size, randomness)))
        history.g_loss.append(generator_step(gan, g_optimizer, gan.noise(batch_size, randomness)))
    return history
