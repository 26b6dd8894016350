"""edgeopt/rl.py, the learning machinery both families' learned solvers share: the numpy forward pass against
PyTorch's, GAE against a hand computation, trajectories, and the imitation warm start learning what it is shown."""
from __future__ import annotations

import numpy as np
import pytest

from edgeopt import rl

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("overrides", [{}, {"use_ReLU": False}, {"layer_N": 0}, {"layer_N": 2, "hidden_size": 24},
                                       {"use_feature_normalization": False}])
def test_the_numpy_scorer_computes_the_torch_scorers_logits(overrides):
    torch.manual_seed(0)
    cfg = rl.make_config(**overrides)
    actor, _ = rl.make_networks(cfg, row_input=7, critic_input=5)
    with torch.no_grad():  # a trained-looking network: weights far from their initial scale
        for p in actor.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    rng = np.random.default_rng(1)
    counts = np.array([1, 4, 9, 2])
    mover = np.repeat(np.arange(counts.size), counts)
    x = (rng.normal(size=(mover.size, 7)) * 3).astype(np.float32)
    allowed = rng.random(mover.size) < 0.8
    allowed[np.searchsorted(mover, np.arange(counts.size))] = True
    with torch.no_grad():
        want = actor(torch.from_numpy(x), torch.from_numpy(mover), torch.from_numpy(allowed), counts.size).numpy()
    got = rl.NumpyScorer(actor).logits(x, mover, allowed, counts.size)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max())))
    picks = rl.NumpyScorer(actor).greedy_rows(x, mover, allowed, counts.size)
    assert np.array_equal(picks, rl.greedy_rows(actor, torch.from_numpy(x), torch.from_numpy(mover),
                                                torch.from_numpy(allowed), counts.size))


def test_gae_follows_each_trajectory_with_its_own_discounts():
    """Two interleaved trajectories; the second crosses a slot boundary (discount 0.5) once. Expected values
    computed by hand from the GAE recursion, without value normalisation."""
    cfg = rl.make_config(gamma=0.9, gae_lambda=0.5, use_valuenorm=False)
    traj = np.array([0, 1, 0, 1, 1])
    data = {"reward": np.array([1.0, 2.0, 3.0, 4.0, 5.0], dtype=np.float32),
            "value": np.array([0.5, 1.0, 1.5, 2.0, 2.5], dtype=np.float32), "next": rl.next_of(traj),
            "discount": np.array([1.0, 0.5, 1.0, 1.0, 1.0])}
    assert rl.next_of(traj).tolist() == [2, 3, -1, 4, -1]
    # trajectory 0: moves 0, 2; trajectory 1: moves 1, 3, 4
    d2 = 3.0 - 1.5
    a2 = d2
    d0 = 1.0 + 1.0 * 1.5 - 0.5
    a0 = d0 + 1.0 * 0.5 * a2
    d4 = 5.0 - 2.5
    a4 = d4
    d3 = 4.0 + 1.0 * 2.5 - 2.0
    a3 = d3 + 1.0 * 0.5 * a4
    d1 = 2.0 + 0.5 * 2.0 - 1.0
    a1 = d1 + 0.5 * 0.5 * a3
    ret, adv = rl.returns(cfg, data, rl.ValueNorm())
    np.testing.assert_allclose(adv, [a0, a1, a2, a3, a4], rtol=1e-6)
    np.testing.assert_allclose(ret, adv + data["value"], rtol=1e-6)
    data.pop("discount")  # without discounts: gamma everywhere
    _, adv = rl.returns(cfg, data, rl.ValueNorm())
    assert adv[0] == pytest.approx(1.0 + 0.9 * 1.5 - 0.5 + 0.9 * 0.5 * a2)


def test_imitation_learns_the_experts_rows():
    """The expert takes the row a feature flags among noise features (as forward-greedy's row is flagged in the
    serving rows); a few imitation updates from a random network must agree with it far more often than
    chance (about one in four here), and the loss must fall."""
    torch.manual_seed(0)
    cfg = rl.make_config(hidden_size=32, ppo_epoch=20, num_mini_batch=2)
    actor, _ = rl.make_networks(cfg, row_input=12, critic_input=2)
    rng = np.random.default_rng(0)
    counts = rng.integers(2, 7, size=400)
    mover = np.repeat(np.arange(counts.size), counts)
    x = rng.normal(size=(mover.size, 12)).astype(np.float32)
    starts = np.cumsum(counts) - counts
    expert = rng.integers(0, counts)
    x[:, 0] = 0.0
    x[starts + expert, 0] = 1.0
    data = {"features": x, "allowed": np.ones(mover.size, dtype=bool), "counts": counts,
            "action": np.zeros(counts.size, dtype=np.int64), "expert": expert}
    opt = torch.optim.Adam(actor.parameters(), lr=rl.IMITATION_LR)
    gen = torch.Generator().manual_seed(0)
    first = rl.imitation_update(cfg, actor, opt, gen, data)
    for _ in range(5):
        last = rl.imitation_update(cfg, actor, opt, gen, data)
    assert last["imitation_loss"] < first["imitation_loss"]
    picks = rl.NumpyScorer(actor).greedy_rows(x, mover, np.ones(mover.size, dtype=bool), counts.size) - starts
    assert np.mean(picks == expert) > 0.95
