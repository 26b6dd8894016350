"""The serving family's learned side: the moves' exact rewards against independent code (the greedy heuristics,
the evaluator), the shaping's telescoping, forward-greedy's reduction to myopic pricing, training's
determinism, the policy files and the solvers that use them, and `edgeopt train serving`."""
from __future__ import annotations

import numpy as np
import pytest

import edgeopt
from edgeopt.families.serving.board import Memory, SlotPlay
from edgeopt.families.serving.evaluate import evaluate
from edgeopt.families.serving.solvers import mappo as sm
from edgeopt.families.serving.solvers.exact import assemble
from edgeopt.families.serving.solvers.online import run_online
from edgeopt.rl import first_best, make_config

torch = pytest.importorskip("torch")


def _instances():
    return [edgeopt.generate("serving", users=8, edges=2, slots=6, seed=s, edge_gpus=gpus, loading_per_second=lps,
                             request_rate=0.6, cloud=cloud)
            for s, gpus, lps, cloud in ((1, ["RTX 4090"], 1.0, False), (2, ["Jetson AGX Orin", "A100"], 0.05, True),
                                        (3, ["RTX 4090", "Jetson AGX Orin"], 0.5, False))]


class _ByColumn:
    """An online rule that takes, for every mover, its allowed row of the highest ``Move`` array ``key``."""

    def __init__(self, key: str):
        self.key, self.memory = key, Memory()

    def __call__(self, view):
        play = SlotPlay(view, self.memory)
        while not play.done:
            move = play.rows()
            score = np.where(move.allowed, getattr(move, self.key), -np.inf)
            play.apply(move, first_best(score, move.mover, move.cell.size))
        play.remember()
        return play.decision()


def _objective(inst, rule) -> float:
    chosen, loaded, _ = run_online(inst, rule)
    return evaluate(inst, assemble(inst, chosen, loaded)).objective


@pytest.mark.parametrize("index", range(3))
def test_taking_each_moves_best_exact_reward_is_lru_greedy(index):
    """A move's reward is the exact change of the slot's objective: taking the best one every move (edges hold,
    then each request its best response, LRU eviction) is what lru-greedy (online.py's own code) does."""
    inst = _instances()[index]
    assert _objective(inst, _ByColumn("delta")) == pytest.approx(edgeopt.solve(inst, "lru-greedy").objective,
                                                                  rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_forward_greedy_prices_like_myopic_when_no_slot_follows(seed):
    """With one slot there is no later slot to charge backlog to: forward-greedy is lru-greedy."""
    inst = edgeopt.generate("serving", users=12, edges=2, slots=1, seed=seed, request_rate=0.9, edge_gpus=["RTX 4090"])
    assert edgeopt.solve(inst, "forward-greedy").objective == pytest.approx(
        edgeopt.solve(inst, "lru-greedy").objective, rel=1e-12, abs=1e-9)


def test_forward_greedy_refuses_more_where_backlog_lasts():
    """On a horizon where the edge stays overloaded, pricing backlog until it drains must serve fewer requests at
    the edge than pricing it once (lru-greedy) and be better overall (the evaluator's objective)."""
    inst = edgeopt.generate("serving", users=20, edges=1, slots=20, seed=5, request_rate=0.9, cloud=False,
                            edge_gpus=["Jetson AGX Orin"], arrivals="poisson")
    fwd, lru = edgeopt.solve(inst, "forward-greedy"), edgeopt.solve(inst, "lru-greedy")
    assert fwd.evaluation.stats["edge"] < lru.evaluation.stats["edge"]
    assert fwd.objective > lru.objective


@pytest.mark.parametrize("reward", ["change", "shaped"])
def test_an_episodes_rewards_sum_to_its_objective(reward):
    """Rewards in units over an episode sum to (objective + refusal penalty x requests) / unit, the evaluator's
    objective of the plan played; with gamma 1 the shaping's potentials telescope to the same sum."""
    cfg = make_config(hidden_size=16, gamma=1.0, reward=reward)
    actor, critic = sm.make_networks(cfg)
    gen = torch.Generator().manual_seed(0)
    for inst in _instances():
        out = {k: [] for k in ("features", "allowed", "counts", "action", "logp", "value", "reward", "cin", "traj", "expert",
                               "slot", "phi")}
        chosen, loaded, unit = sm._collect_episode(cfg, inst, actor, critic, gen, out, 0)
        objective = evaluate(inst, assemble(inst, chosen, loaded)).objective
        expected = (objective + inst.refusal_penalty * inst.requested.sum()) / unit
        rewards = np.asarray(out["reward"], dtype=np.float64)
        if reward == "shaped":
            nxt = sm.rl.next_of(np.asarray(out["traj"]))
            phi = np.asarray(out["phi"])
            rewards = rewards + np.where(nxt >= 0, phi[np.maximum(nxt, 0)], 0.0) - phi
            assert np.any(phi != 0.0)  # the backlog has a potential on these horizons
        assert rewards.sum() == pytest.approx(expected, rel=1e-6)


def test_collected_shaped_rewards_are_the_change_plus_discounted_potentials():
    """_collect's shaped rewards: r + discount x phi(next) - phi, with the discount gamma across a slot boundary
    and 1 within a slot (recomputed here from the unshaped rewards of the same seeded play)."""
    inst = _instances()[0]
    data = {}
    for reward in ("change", "shaped"):
        cfg = make_config(hidden_size=16, gamma=0.9, reward=reward)
        torch.manual_seed(0)
        actor, critic = sm.make_networks(cfg)
        data[reward] = sm._collect(cfg, [inst], actor, critic, torch.Generator().manual_seed(1))
    a, b = data["change"], data["shaped"]
    assert np.array_equal(a["action"], b["action"])
    assert set(np.unique(a["discount"])) == {0.9, 1.0}
    assert not np.allclose(a["reward"], b["reward"])


def _tiny_policy(tmp_path, algorithm="mappo", seed=3):
    out = tmp_path / f"serving-{algorithm}-{seed}.pt"
    report = sm.train(_instances()[:1], steps=400, seed=seed, output=out, independent_critic=algorithm == "ippo",
                      hyperparameters={"batch_decisions": 200, "hidden_size": 16, "eval_interval": 1}, progress=False)
    return report


def test_training_is_reproducible_and_writes_its_learning_curve(tmp_path):
    a = _tiny_policy(tmp_path / "a")
    b = _tiny_policy(tmp_path / "b")
    assert a.policy.read_bytes() == b.policy.read_bytes()
    assert a.curve_csv.read_text().splitlines()[0].split(",") == list(sm.CURVE_COLUMNS)
    assert a.updates == 2 and a.curve_png.stat().st_size > 0
    assert a.header["family"] == "serving" and a.header["hyperparameters"]["gamma"] == 0.95
    c = _tiny_policy(tmp_path / "c", seed=4)
    assert c.policy.read_bytes() != a.policy.read_bytes()


def test_a_trained_policy_solves_under_the_information_rule_and_is_checked(tmp_path):
    mappo = _tiny_policy(tmp_path).policy
    inst = _instances()[1]
    r = edgeopt.solve(inst, "mappo", policy=str(mappo))
    assert r.status == edgeopt.Status.FEASIBLE and r.evaluation.feasible
    assert r.extra["algorithm"] == "mappo" and r.extra["policy_hash"].startswith("sha256:")
    assert r.objective == pytest.approx(sm.greedy_objective(sm.load_policy(mappo).actor, inst), rel=1e-12)
    with pytest.raises(ValueError, match="trained as mappo"):
        edgeopt.solve(inst, "ippo", policy=str(mappo))
    with pytest.raises(ValueError, match="empty path"):
        edgeopt.solve(inst, "mappo", policy="")


def test_a_policy_of_the_other_family_is_refused_naming_the_family():
    from edgeopt.families.offloading.solvers import mappo as om

    with pytest.raises(ValueError, match="family is 'offloading', this edgeopt's is 'serving'"):
        sm.load_policy(om.POLICIES / "offloading-mappo.pt")


def test_scenarios_refuse_bad_ranges_naming_them():
    with pytest.raises(ValueError, match="scenarios users"):
        sm.Scenarios(users=(0, 3))
    with pytest.raises(ValueError, match="low 0.5 is above high 0.1"):
        sm.Scenarios(request_rate=(0.5, 0.1))
    with pytest.raises(ValueError, match="log-uniform"):
        sm.Scenarios(delay_per_second=(0.0, 1.0))
    inst = sm.Scenarios().draw(np.random.default_rng(0))
    assert inst.kind == "serving" and sm.Scenarios().draw(np.random.default_rng(0)).hash == inst.hash


def test_cli_trains_a_serving_policy(tmp_path, capsys):
    from edgeopt.cli import main

    out = tmp_path / "p.pt"
    code = main(["train", "serving", "--steps", "150", "--set", "batch_decisions=150", "--set", "hidden_size=8",
                 "--range", "users=2,3", "--range", "edges=1,1", "--range", "slots=3,4", "--quiet", "-o", str(out)])
    assert code == 0 and out.is_file()
    assert "gain over myopic" in capsys.readouterr().out
    assert main(["train", "serving", "--steps", "10", "--range", "cells=1,2", "-o", str(tmp_path / "q.pt")]) == 2
    assert "users, edges, slots" in capsys.readouterr().err
    assert main(["train", "serving", "--steps", "10", "--imitation", "5", "-o", str(tmp_path / "q.pt")]) == 2
    assert "imitation must be a whole number of updates between 0 and 1" in capsys.readouterr().err
    assert main(["train", "offloading", "--steps", "10", "--imitation", "1", "-o", str(tmp_path / "q.pt")]) == 2
    assert "serving family's warm start" in capsys.readouterr().err
    assert not (tmp_path / "q.pt").exists()
