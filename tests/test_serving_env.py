"""The serving family's PettingZoo ParallelEnv (edgeopt/families/serving/env.py): the API and seeding tests
of PettingZoo, the ticks (every slot has the edges' tick, then one per request of the busiest cell), the
rewards against the evaluator (refusing everything; random episodes, summed with each step's unit, against
the objective of the plan the environment committed), repaired actions, determinism, and bad arguments."""
from __future__ import annotations

import copy
import itertools
import warnings

import numpy as np
import pytest

import edgeopt
from edgeopt.io import instance_from_data

pettingzoo_test = pytest.importorskip("pettingzoo.test")

from edgeopt.families.serving.board import ROW_FIELDS, ROW_INPUT, STATE
from edgeopt.families.serving.env import ServingEnv
from edgeopt.families.serving.evaluate import evaluate
from edgeopt.families.serving.solvers.exact import assemble

GENERATOR = {"users": 6, "edges": 2, "slots": 4}


def _tiny(seed: int, **kw):
    return edgeopt.generate("serving", **{**GENERATOR, **kw}, seed=seed)


def _edited(seed: int, backlog: float, loaded: list[str], memory_gb: float = 80.0, **kw):
    """A tiny instance whose edges start with ``backlog`` seconds of work and ``loaded`` models, with
    ``memory_gb`` of GPU memory each."""
    data = copy.deepcopy(_tiny(seed, **kw).data)
    for e in data["edges"]:
        e["initial_backlog_seconds"] = backlog
        e["initial_loaded"] = list(loaded)
        e["gpu_memory_gb"] = memory_gb
    data["name"] = f"edited-{seed}"
    return instance_from_data(data, f"<edited {seed}>")


def _play(env: ServingEnv, choose, seed=None):
    """Play one episode with ``choose(agent, observation) -> action``; returns the steps' (observations,
    rewards, infos) and the sum of each step's rewards times that step's unit."""
    obs, infos = env.reset(seed=seed)
    steps, total = [(obs, None, infos)], 0.0
    while env.agents:
        obs, rewards, terms, truncs, infos = env.step({a: choose(a, obs[a]) for a in env.agents})
        assert not any(truncs.values()) and len(set(terms.values())) == 1  # all terminated at once, or none
        units = {info["unit"] for info in infos.values()}
        assert len(units) == 1  # one unit per step
        total += sum(rewards.values()) * units.pop()
        steps.append((obs, rewards, infos))
    return steps, total


def _random(seed: int):
    """A seeded random choice among each agent's allowed rows."""
    rng = np.random.default_rng(seed)

    def choose(agent, observation):
        return int(rng.choice(np.flatnonzero(observation["action_mask"])))
    return choose


def _target(inst, env: ServingEnv) -> float:
    """The evaluator's objective of the plan the environment committed, plus every request's refusal penalty."""
    ev = evaluate(inst, assemble(inst, env.episode.chosen, env.episode.loaded))
    assert ev.feasible, ev.violations
    return ev.objective + inst.refusal_penalty * float(inst.requested.sum())


# -- the PettingZoo API ------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["instance", "generator"])
def test_the_pettingzoo_parallel_api_test_passes(mode):
    env = ServingEnv(_tiny(3)) if mode == "instance" else ServingEnv(generator=GENERATOR)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PettingZoo reports most API faults as warnings
        pettingzoo_test.parallel_api_test(env, num_cycles=200)
    assert env.metadata["name"] == "edgeopt_serving_v1" and env.metadata["is_parallelizable"]
    assert env.possible_agents == ["edge_0", "edge_1", *(f"user_{u}" for u in range(6))]


def test_the_pettingzoo_parallel_seed_test_passes():
    pettingzoo_test.parallel_seed_test(lambda: ServingEnv(generator=GENERATOR), num_cycles=50)


def test_observations_spaces_and_state_keep_their_shapes():
    inst = _tiny(3)
    env = ServingEnv(inst)
    rows = 1 + 3 * inst.num_configs
    assert env.rows == rows and env.action_space("user_2").n == rows
    assert env.observation_space("edge_0")["observation"].shape == (rows, ROW_INPUT)
    assert env.state_space.shape == (inst.num_edges * STATE,)
    steps, _ = _play(env, _random(0))
    for obs, _, infos in steps[:-1]:
        for agent, o in obs.items():
            assert env.observation_space(agent).contains(o), agent
        movers = [a for a, o in obs.items() if o["observation"].any()]
        assert movers  # somebody acts in every tick
        for agent, o in obs.items():
            if agent not in movers:  # a non-mover: zeros, only row 0
                assert o["action_mask"].tolist() == [1] + [0] * (rows - 1)
    assert [a for a, o in steps[0][0].items() if o["observation"].any()] == ["edge_0", "edge_1"]
    # the episode is over: no agents, the state zeros, no more steps
    assert env.agents == [] and not env.state().any()
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})
    env.reset()
    assert env.state().shape == env.state_space.shape and env.state().any()


def test_the_last_step_terminates_every_agent_and_truncates_none():
    env = ServingEnv(generator=GENERATOR)
    choose = _random(5)
    obs = env.reset(seed=5)[0]
    while True:
        obs, _, terms, truncs, _ = env.step({a: choose(a, obs[a]) for a in env.agents})
        if any(terms.values()):
            break
        assert not any(truncs.values()) and set(terms) == set(env.possible_agents)
    assert all(terms.values()) and not any(truncs.values()) and set(terms) == set(env.possible_agents)
    assert env.agents == [] and env.episode.done


# -- ticks -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 80])  # 80: nobody asks in the first two slots
def test_every_slot_has_the_edges_tick_then_one_per_request_of_the_busiest_cell(seed):
    inst = _tiny(seed)
    env = ServingEnv(inst)
    steps, _ = _play(env, _random(seed))
    slots = [infos["edge_0"]["t"] for _, _, infos in steps[1:]]
    want = []
    for t in range(inst.slots):
        asking = inst.user_edge[inst.requested[:, t]]
        want += [t] * (1 + int(np.bincount(asking, minlength=inst.num_edges).max()))
    assert slots == want
    # the edges move in each slot's first step; then each requesting user once, one per cell per step; the
    # movers are the agents with an observation (the others see zeros)
    users_moved: dict[int, list[int]] = {t: [] for t in range(inst.slots)}
    for (before, _, _), (_, _, infos), t, first in zip(steps, steps[1:], slots,
                                                       [True] + [a != b for a, b in itertools.pairwise(slots)]):
        moved = {a for a, info in infos.items() if info["moved"]}
        assert moved == {a for a, o in before.items() if o["observation"].any()}
        if first:
            assert moved == {"edge_0", "edge_1"}
        else:
            users = [int(a.split("_")[1]) for a in moved]
            assert moved and all(a.startswith("user") for a in moved)
            assert len({int(inst.user_edge[u]) for u in users}) == len(users)  # one per cell
            users_moved[t] += users
    for t in range(inst.slots):
        assert sorted(users_moved[t]) == np.flatnonzero(inst.requested[:, t]).tolist()


# -- rewards against the evaluator --------------------------------------------------------------------------
@pytest.mark.parametrize("edited", [False, True])
def test_refusing_everything_earns_the_evaluators_objective_of_the_all_refused_plan(edited):
    inst = _edited(2, backlog=35.0, loaded=["cogvideox-2b"]) if edited else _tiny(2)
    env = ServingEnv(inst)
    _, total = _play(env, lambda agent, observation: 0)
    T = inst.slots
    refuse = [np.full(inst.options(t).users.size, -1) for t in range(T)]
    kept = np.repeat(np.asarray(inst.initial_loaded)[:, :, None], T, axis=2)
    ev = evaluate(inst, assemble(inst, refuse, kept))
    want = ev.objective + inst.refusal_penalty * float(inst.requested.sum())
    if edited:  # the carried backlog costs 25 + 15 + 5 s per edge (slots of 10 s)
        assert want == pytest.approx(-2 * inst.delay_per_second * 45.0)
    else:
        assert want == 0.0
    assert total == pytest.approx(want, rel=1e-6, abs=1e-9)
    assert [c.tolist() for c in env.episode.chosen] == [c.tolist() for c in refuse]


# 7, 20, 80: an edge loads a model that a user's load later in the slot would evict (board.py keeps it);
# 76, 80: nobody asks in the first slots (the unit is fixed before any request all the same)
@pytest.mark.parametrize("seed", [0, 1, 7, 20, 76, 80])
def test_random_episodes_rewards_sum_to_the_evaluators_objective(seed):
    """Random allowed rows for every agent; the plan is the one the environment committed, priced by the
    evaluator; the rewards are in one unit over the episode, the refusal penalty."""
    inst = _tiny(seed)
    env = ServingEnv(inst)
    steps, total = _play(env, _random(seed))
    assert env.episode.done and env.episode.loaded.any()  # models were loaded
    assert total == pytest.approx(_target(inst, env), rel=1e-6)
    first = int(np.flatnonzero(inst.requested.any(axis=0))[0])
    assert (first > 0) == (seed in (76, 80))
    units = {infos["edge_0"]["unit"] for _, _, infos in steps[1:]}
    assert units == {env.unit} == {inst.refusal_penalty}


@pytest.mark.parametrize("seed", [0, 3, 9])
def test_user_loads_and_carried_backlog_sum_to_the_evaluators_objective(seed):
    """Edges hold, users pick random rows (loading models), the edges start with 15 s of work."""
    inst = _edited(seed, backlog=15.0, loaded=[])
    env = ServingEnv(inst)
    choose = _random(seed)
    _, total = _play(env, lambda agent, obs: 0 if agent.startswith("edge") else choose(agent, obs))
    assert env.episode.loaded.any()  # the users loaded models
    assert total == pytest.approx(_target(inst, env), rel=1e-6)


# -- repaired actions ----------------------------------------------------------------------------------------
def test_masked_actions_are_taken_as_row_0_and_flagged():
    inst = _tiny(1)
    env, twin = ServingEnv(inst), ServingEnv(inst)
    obs, _ = env.reset()
    twin.reset()
    # the edges' tick: edge_0 asks for a padding row, edge_1 for an allowed load; a user acts out of turn
    edge0_rows = int(obs["edge_0"]["action_mask"].sum())
    assert obs["edge_0"]["action_mask"][-1] == 0 and edge0_rows < env.rows
    load = int(np.flatnonzero(obs["edge_1"]["action_mask"])[-1])
    assert load > 0
    bad = {a: 0 for a in env.agents} | {"edge_0": env.rows - 1, "edge_1": load, "user_3": 2}
    good = {a: 0 for a in env.agents} | {"edge_1": load}
    o1, r1, _, _, i1 = env.step(bad)
    o2, r2, _, _, i2 = twin.step(good)
    assert i1["edge_0"]["repaired"] and i1["user_3"]["repaired"]
    assert not i1["edge_1"]["repaired"] and not i1["user_0"]["repaired"]
    assert not any(info["repaired"] for info in i2.values())
    assert r1 == r2 and r1["edge_1"] < 0.0  # the load cost something; the repaired edge held
    for a in env.possible_agents:
        np.testing.assert_array_equal(o1[a]["observation"], o2[a]["observation"])
    # a user's forbidden row (here: past its rows) is refused: reward 0, flagged
    user = next(a for a in env.agents if o1[a]["observation"].any())
    rows = int(o1[user]["action_mask"].sum())
    _, r3, _, _, i3 = env.step({a: 0 for a in env.agents} | {user: env.rows - 1})
    assert rows < env.rows and i3[user]["repaired"] and r3[user] == 0.0
    # an action for an agent that is not in the episode is an error
    with pytest.raises(ValueError, match="user_99"):
        env.step({"user_99": 0})


def test_a_forbidden_option_row_is_refused_and_flagged():
    """One edge with room for one model at a time (31 GB): once a user takes an edge option, the next users'
    edge options of other models are forbidden. Where a user has such a row, the environment is given it and
    its twin row 0: the same rewards, observations and committed plan, and the flag."""
    inst = _edited(0, backlog=0.0, loaded=[], memory_gb=31.0, edges=1)
    env, twin = ServingEnv(inst), ServingEnv(inst)
    obs, _ = env.reset()
    twin.reset()
    edge = ROW_FIELDS.index("place_edge")
    flagged = None
    while env.agents:
        acts = {}
        for a in env.agents:  # users: their first allowed edge option; edges hold
            rows = np.flatnonzero(obs[a]["action_mask"].astype(bool) & (obs[a]["observation"][:, edge] == 1))
            acts[a] = int(rows[0]) if a.startswith("user") and rows.size else 0
        other, now = dict(acts), set()
        for a in env.agents:
            forbidden = np.flatnonzero(obs[a]["observation"].any(axis=1) & (obs[a]["action_mask"] == 0))
            if flagged is None and forbidden.size:
                flagged, acts[a], other[a], now = (a, env.episode.t), int(forbidden[0]), 0, {a}
                break
        obs, rewards, _, _, infos = env.step(acts)
        obs2, rewards2, _, _, infos2 = twin.step(other)
        assert rewards == rewards2
        for a in obs:
            np.testing.assert_array_equal(obs[a]["observation"], obs2[a]["observation"])
        assert {a for a, i in infos.items() if i["repaired"]} == now
        assert not any(i["repaired"] for i in infos2.values())
    assert flagged is not None  # the case arose
    user, t = int(flagged[0].split("_")[1]), flagged[1]
    assert env.episode.chosen[t][list(inst.options(t).users).index(user)] == -1
    assert all((a == b).all() for a, b in zip(env.episode.chosen, twin.episode.chosen))


def test_a_missing_action_of_a_mover_is_row_0_and_flagged():
    env = ServingEnv(_tiny(1))
    env.reset()
    _, rewards, _, _, infos = env.step({})
    assert infos["edge_0"]["repaired"] and infos["edge_1"]["repaired"]
    assert not infos["user_0"]["repaired"]
    assert rewards["edge_0"] == 0.0 and rewards["edge_1"] == 0.0  # held, and the edges started empty


# -- determinism --------------------------------------------------------------------------------------------
def _trace(env, seed, actions_seed):
    steps, total = _play(env, _random(actions_seed), seed=seed)
    return steps, total


def test_the_same_seed_gives_the_same_observations_and_rewards():
    a, b = ServingEnv(generator=GENERATOR), ServingEnv(generator=GENERATOR)
    sa, ta = _trace(a, 7, 1)
    sb, tb = _trace(b, 7, 1)
    assert len(sa) == len(sb) and ta == tb
    for (oa, ra, _), (ob, rb, _) in zip(sa, sb):
        assert ra == rb
        for agent in oa:
            np.testing.assert_array_equal(oa[agent]["observation"], ob[agent]["observation"])
            np.testing.assert_array_equal(oa[agent]["action_mask"], ob[agent]["action_mask"])
    first = a.instance.hash
    # another seed: another instance; reset() without a seed goes on drawing; a fresh env starts at seed 0
    a.reset(seed=8)
    assert a.instance.hash != first
    a.reset(seed=7)
    assert a.instance.hash == first
    a.reset()
    assert a.instance.hash != first
    fresh, zero = ServingEnv(generator=GENERATOR), ServingEnv(generator=GENERATOR)
    fresh.reset()
    zero.reset(seed=0)
    assert fresh.instance.hash == zero.instance.hash != first
    assert fresh.instance.num_users == 6 and fresh.instance.slots == 4


def test_generator_mode_rows_bound_every_generated_instance():
    env = ServingEnv(generator={**GENERATOR, "max_configs": None})
    for seed in range(5):
        env.reset(seed=seed)
        assert env.rows >= 1 + 3 * env.instance.num_configs and env.rows >= 1 + env.instance.num_models
    assert env.rows == 1 + 3 * 12  # the catalogue's 12 configurations


# -- arguments ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, kwargs, match", [
    ((), {}, "either an instance or generator"),
    (("inst",), {"generator": GENERATOR}, "either an instance or generator"),
    (("offloading",), {}, "instance: a serving instance"),
    (("inst",), {"render_mode": "human"}, "render_mode"),
    ((), {"generator": {**GENERATOR, "seed": 3}}, "generator parameter 'seed'"),
    ((), {"generator": {**GENERATOR, "name": "x"}}, "generator parameter 'name'"),
    ((), {"generator": {**GENERATOR, "userz": 3}}, "generator parameter 'userz'"),
    ((), {"generator": {**GENERATOR, "users": 0}}, "generator: the parameters"),
    ((), {"generator": "users=6"}, "generator: a dict"),
])
def test_bad_arguments_are_named(args, kwargs, match):
    lookup = {"inst": _tiny(0), "offloading": edgeopt.generate("offloading", users=3, seed=0)}
    with pytest.raises(ValueError, match=match):
        ServingEnv(*[lookup[a] for a in args], **kwargs)
