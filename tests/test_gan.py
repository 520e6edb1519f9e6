"""The ring of Gaussians, its mode-coverage metric, and the two-optimizer GAN (optimlab.data.rings, optimlab.gan)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from optimlab.data.rings import mode_coverage, ring_centers, ring_of_gaussians
from optimlab.gan import (
    GAN,
    discriminator_loss,
    discriminator_step,
    gan_step,
    generator_loss,
    generator_step,
    split_parameters,
    train_gan,
)
from optimlab.optim import Adam

# ---------------------------------------------------------------- data


def test_ring_centers_lie_on_the_circle_evenly_spaced():
    centers = ring_centers(8, 2.0, dtype=torch.float64)
    assert centers.shape == (8, 2)
    torch.testing.assert_close(centers.norm(dim=1), torch.full((8,), 2.0, dtype=torch.float64))
    torch.testing.assert_close(centers[0], torch.tensor([2.0, 0.0], dtype=torch.float64))
    gaps = (centers - centers.roll(-1, dims=0)).norm(dim=1)
    torch.testing.assert_close(gaps, torch.full((8,), 2 * 2.0 * math.sin(math.pi / 8), dtype=torch.float64))


def test_ring_data_has_the_asked_shape_dtype_and_is_seeded():
    x = ring_of_gaussians(500, seed=3)
    assert x.shape == (500, 2) and x.dtype == torch.float32
    assert torch.equal(x, ring_of_gaussians(500, seed=3))
    assert not torch.equal(x, ring_of_gaussians(500, seed=4))
    assert ring_of_gaussians(10, seed=0, dtype=torch.float64).dtype == torch.float64


def test_ring_data_does_not_touch_the_global_generator():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ring_of_gaussians(100, seed=0)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("modes,radius,std", [(8, 2.0, 0.05), (5, 1.0, 0.02), (12, 3.0, 0.1)])
def test_ring_data_sits_on_every_mode_in_equal_shares(modes, radius, std):
    n = 4000
    x = ring_of_gaussians(n, modes, radius, std, seed=0, dtype=torch.float64)
    distances = torch.cdist(x, ring_centers(modes, radius, dtype=torch.float64))
    nearest_distance, nearest = distances.min(dim=1)
    assert nearest_distance.max() < 5 * std  # P(r > 5σ) = e^{-12.5} per point in 2-D
    shares = torch.bincount(nearest, minlength=modes) / n
    assert (shares - 1 / modes).abs().max() < 4 * math.sqrt((1 / modes) * (1 - 1 / modes) / n)
    # the spread around each centre is std in each coordinate
    offsets = x - ring_centers(modes, radius, dtype=torch.float64)[nearest]
    assert abs(offsets.std().item() - std) < 0.05 * std


@pytest.mark.parametrize("kwargs,expected", [
    (dict(n=0), "n=0"), (dict(n=10, modes=0), "modes=0"), (dict(n=10, std=0.0), "std=0.0"),
    (dict(n=10, radius=-1.0), "radius=-1.0"), (dict(n=10, seed=-1), "seed=-1"),
])
def test_ring_data_rejects_bad_arguments_by_name(kwargs, expected):
    kwargs.setdefault("seed", 0)
    with pytest.raises(ValueError, match=expected):
        ring_of_gaussians(**kwargs)


# ---------------------------------------------------------------- mode coverage


def test_perfect_samples_cover_every_mode_with_the_2d_three_sigma_mass():
    coverage = mode_coverage(ring_of_gaussians(20_000, seed=1))
    assert coverage.modes_covered == 8
    # in 2-D, P(|ε| <= 3) = 1 - exp(-9/2) ≈ 0.9889 (not the 1-D 0.9973)
    assert abs(coverage.high_quality - (1 - math.exp(-4.5))) < 0.004
    assert len(coverage.share_per_mode) == 8 and abs(sum(coverage.share_per_mode) - coverage.high_quality) < 1e-9


def test_samples_collapsed_on_one_mode_cover_one():
    collapsed = ring_centers()[3] + 0.05 * torch.randn(1000, 2, generator=torch.Generator().manual_seed(0))
    coverage = mode_coverage(collapsed)
    assert coverage.modes_covered == 1
    assert coverage.high_quality > 0.97
    assert coverage.share_per_mode.index(max(coverage.share_per_mode)) == 3


def test_samples_between_the_modes_are_neither_covered_nor_high_quality():
    mid_angles = torch.arange(8) * (2 * math.pi / 8) + math.pi / 8  # halfway between neighbouring centres
    between = 2.0 * torch.stack([mid_angles.cos(), mid_angles.sin()], dim=1).repeat(50, 1)
    coverage = mode_coverage(between)
    assert coverage.modes_covered == 0 and coverage.high_quality == 0.0
    assert mode_coverage(torch.zeros(100, 2)).modes_covered == 0


def test_a_mode_needs_its_minimum_share_to_count():
    centers = ring_centers()
    # A quarter of a mode's fair share is 1/32 = 3.125 % of the samples: 40 points of 1000 (4 %) count, 20 (2 %) do not.
    counts_as_covered = torch.cat([centers[0].repeat(960, 1), centers[1].repeat(40, 1)])
    too_few = torch.cat([centers[0].repeat(980, 1), centers[1].repeat(20, 1)])
    assert mode_coverage(counts_as_covered).modes_covered == 2
    assert mode_coverage(too_few).modes_covered == 1
    assert mode_coverage(too_few, min_fraction=0.01).modes_covered == 2
    assert mode_coverage(too_few).high_quality == 1.0


def test_mode_coverage_rejects_bad_input_by_name():
    with pytest.raises(ValueError, match="samples="):
        mode_coverage(torch.zeros(10, 3))
    with pytest.raises(ValueError, match="samples="):
        mode_coverage(torch.zeros(0, 2))
    with pytest.raises(ValueError, match="min_fraction=0.0"):
        mode_coverage(torch.zeros(10, 2), min_fraction=0.0)
    with pytest.raises(ValueError, match="n_std=-1"):
        mode_coverage(torch.zeros(10, 2), n_std=-1)


# ---------------------------------------------------------------- the model and its losses


def test_gan_initialisation_is_seeded_and_leaves_the_global_generator_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    a, b, c = GAN(seed=0), GAN(seed=0), GAN(seed=1)
    assert torch.equal(torch.rand(3), expected)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.generator.fc1.weight, c.generator.fc1.weight)
    # the two networks get different seeds, even where their first layers have the same shape
    assert not torch.equal(a.generator.fc1.weight, a.discriminator.fc1.weight)


def test_the_two_halves_are_disjoint_and_together_all_of_the_parameters():
    gan = GAN(latent_dim=3, hidden=16, seed=0)
    g_params, d_params = split_parameters(gan)
    g_ids, d_ids = {id(p) for p in g_params}, {id(p) for p in d_params}
    assert g_ids and d_ids and not g_ids & d_ids
    assert g_ids | d_ids == {id(p) for p in gan.parameters()}
    assert gan.generator(torch.zeros(4, 3)).shape == (4, 2)
    assert gan.discriminator(torch.zeros(4, 2)).shape == (4, 1)


def test_losses_are_binary_cross_entropy_with_logits():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(7, 1, generator=g) * 5, torch.randn(9, 1, generator=g) * 5
    bce = F.binary_cross_entropy_with_logits
    torch.testing.assert_close(discriminator_loss(real, fake),
                               bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake)))
    torch.testing.assert_close(generator_loss(fake), bce(fake, torch.ones_like(fake)))


def test_the_non_saturating_loss_still_has_a_gradient_where_the_minimax_one_vanishes():
    confidently_rejected = torch.tensor([[-8.0]], requires_grad=True)
    (non_saturating,) = torch.autograd.grad(generator_loss(confidently_rejected), confidently_rejected)
    minimax_loss = -F.softplus(confidently_rejected).mean()   # E log(1 - σ(D(G(z)))), the saturating original
    (minimax,) = torch.autograd.grad(minimax_loss, confidently_rejected)
    assert non_saturating.abs().item() > 0.99 and minimax.abs().item() < 1e-3
    assert torch.sign(non_saturating) == torch.sign(minimax)  # both push the logit up


# ---------------------------------------------------------------- two optimizers, each owning only its half


def _two_optimizers(gan):
    g_params, d_params = split_parameters(gan)
    return Adam(g_params, lr=1e-3, betas=(0.5, 0.999)), Adam(d_params, lr=3e-3, betas=(0.5, 0.999))


def _copies(params):
    return [p.detach().clone() for p in params]


def _unchanged(params, saved):
    return all(torch.equal(p, s) for p, s in zip(params, saved))


def test_a_generator_step_leaves_every_discriminator_weight_bit_identical_but_fills_its_grad():
    gan = GAN(seed=0)
    g_opt, _ = _two_optimizers(gan)
    g_params, d_params = split_parameters(gan)
    g_before, d_before = _copies(g_params), _copies(d_params)
    generator_step(gan, g_opt, gan.noise(64, torch.Generator().manual_seed(0)))
    assert _unchanged(d_params, d_before)
    assert not _unchanged(g_params, g_before)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in d_params)


def test_a_discriminator_step_leaves_every_generator_weight_bit_identical_and_ignores_leftover_grads():
    gan = GAN(seed=0)
    g_opt, d_opt = _two_optimizers(gan)
    noise = torch.Generator().manual_seed(0)
    real = ring_of_gaussians(64, seed=0)
    generator_step(gan, g_opt, gan.noise(64, noise))  # leaves G's loss gradient in D's .grad
    g_params, d_params = split_parameters(gan)
    g_before = _copies(g_params)
    fresh = GAN(seed=0)
    fresh.load_state_dict(gan.state_dict())
    _, fresh_d_opt = _two_optimizers(fresh)
    state = torch.Generator().manual_seed(1)
    discriminator_step(gan, real, d_opt, gan.noise(64, state))
    discriminator_step(fresh, real, fresh_d_opt, fresh.noise(64, torch.Generator().manual_seed(1)))
    assert _unchanged(g_params, g_before)
    # the same step as on a copy that never had leftover gradients: zero_grad came first
    assert all(torch.equal(p, q) for p, q in zip(gan.discriminator.parameters(), fresh.discriminator.parameters()))


def test_one_optimizer_over_everything_moves_the_discriminator_towards_calling_fakes_real():
    gan = GAN(seed=0)
    one = Adam(gan.parameters(), lr=1e-3, betas=(0.5, 0.999))
    noise = gan.noise(256, torch.Generator().manual_seed(0))
    with torch.no_grad():
        fakes = gan.generator(noise)
        before = gan.discriminator(fakes).mean()
    d_before = _copies(gan.discriminator.parameters())
    generator_step(gan, one, noise)
    with torch.no_grad():
        after = gan.discriminator(fakes).mean()
    assert not _unchanged(gan.discriminator.parameters(), d_before)
    assert after > before


@pytest.mark.parametrize("which", ["one optimizer for both", "swapped", "generator optimizer misses a tensor"])
def test_gan_step_refuses_optimizers_that_do_not_own_exactly_their_half(which):
    gan = GAN(seed=0)
    g_params, d_params = split_parameters(gan)
    g_opt, d_opt = _two_optimizers(gan)
    d_opt, g_opt, expected = {
        "one optimizer for both": (Adam(gan.parameters()), g_opt, "d_optimizer='Adam' is invalid: .*6 extra"),
        "swapped": (g_opt, d_opt, "d_optimizer='Adam' is invalid: .*discriminator's parameters"),
        "generator optimizer misses a tensor": (d_opt, Adam(g_params[:-1]), "g_optimizer=.*0 extra, 1 missing"),
    }[which]
    with pytest.raises(ValueError, match=expected):
        gan_step(gan, ring_of_gaussians(8, seed=0), d_opt, g_opt, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=expected.split("=")[0]):
        train_gan(gan, ring_of_gaussians(8, seed=0), d_opt, g_opt, steps=1)


def test_gan_step_returns_both_losses_and_moves_both_networks():
    gan = GAN(seed=0)
    g_opt, d_opt = _two_optimizers(gan)
    g_params, d_params = split_parameters(gan)
    g_before, d_before = _copies(g_params), _copies(d_params)
    losses = gan_step(gan, ring_of_gaussians(64, seed=0), d_opt, g_opt, generator=torch.Generator().manual_seed(0))
    assert losses.discriminator > 0 and losses.generator > 0
    assert not _unchanged(g_params, g_before) and not _unchanged(d_params, d_before)


# ---------------------------------------------------------------- training


def test_train_gan_is_deterministic_and_its_step_zero_snapshot_is_the_untrained_generator():
    runs = []
    for _ in range(2):
        gan = GAN(seed=2)
        untrained = gan.sample(50, torch.Generator().manual_seed(5))
        g_opt, d_opt = _two_optimizers(gan)
        history = train_gan(gan, ring_of_gaussians(256, seed=2), d_opt, g_opt, steps=20, batch_size=32, seed=5,
                            snapshot_at=[0, 10, 20], n_snapshot=50)
        runs.append(history)
    first, second = runs
    assert len(first.d_loss) == len(first.g_loss) == 20
    assert sorted(first.snapshots) == [0, 10, 20]
    assert torch.equal(first.snapshots[0], untrained)
    assert first.d_loss == second.d_loss and torch.equal(first.snapshots[20], second.snapshots[20])
    assert not torch.equal(first.snapshots[20], first.snapshots[0])


def test_a_short_training_covers_more_modes_than_the_untrained_generator():
    # Seed 0, 300 steps, D 3x faster, beta1 = 0.5 (the notebook's setting): 2 modes, high quality 0.24; untrained: 0.
    gan = GAN(seed=0)
    untrained = mode_coverage(gan.sample(1000, torch.Generator().manual_seed(0)))
    g_opt, d_opt = _two_optimizers(gan)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the notebooks (and faster for a model this small)
    try:
        history = train_gan(gan, ring_of_gaussians(2048, seed=0), d_opt, g_opt, steps=300, batch_size=256, seed=0,
                            snapshot_at=[300])
    finally:
        torch.set_num_threads(threads)
    trained = mode_coverage(history.snapshots[300])
    assert untrained.modes_covered == 0 and untrained.high_quality < 0.01
    assert trained.modes_covered >= 2
    assert trained.high_quality > 0.15
