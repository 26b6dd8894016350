"""The offloading family's learning side: the turn board (rows, masks, rewards, the same decisions for the
same problem listed in another order), the PettingZoo environment (API, seeding, the rewards add up to the
evaluator's objective), the scenario space, MAPPO training (a smoke run, bit-for-bit repeatable), the policy
file (only tensors and a header; another layout, another family or a malformed file refused), the mappo and
ippo solvers, and the benchmarks in their quick modes."""
from __future__ import annotations

import copy
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import INSTANCES, ROOT

import edgeopt
from edgeopt.families.offloading import plan
from edgeopt.families.offloading.observation import ROW_FIELDS, ROW_INPUT, STATE, Board
from edgeopt.families.offloading.plans import slot_value
from edgeopt.families.offloading.scenarios import make_ranges, sample
from edgeopt.io import instance_from_data

torch = pytest.importorskip("torch")
pettingzoo_test = pytest.importorskip("pettingzoo.test")

from edgeopt.families.offloading.env import OffloadingEnv
from edgeopt.families.offloading.solvers import mappo

DATA = ROOT / "tests" / "data"


def _load(name: str):
    return edgeopt.load(INSTANCES / "offloading" / f"offload-{name}.json")


def _reversed(inst):
    """The same instance with its models, and each model's configurations, listed in reverse."""
    data = copy.deepcopy(inst.data)
    data["models"] = data["models"][::-1]
    for m in data["models"]:
        m["configs"] = m["configs"][::-1]
    return instance_from_data(data, source=inst.name + " reversed")


def _named(inst, sol) -> list:
    """Every (user, slot) decision by names: (model/config, place) or None."""
    return [[None if sol.config[u, t] < 0 else (inst.config_names[sol.config[u, t]], int(sol.place[u, t]))
             for t in range(inst.slots)] for u in range(inst.num_users)]


def _first_best(values, mover, movers):
    return mappo.first_best(values, mover, movers)


def _best_response(board: Board) -> None:
    """Play the board taking, on every turn, the allowed row of the highest value (first on a tie)."""
    while not board.done:
        movers = board.movers()
        rows = board.rows(movers)
        pick = _first_best(np.where(rows["allowed"], rows["q"], -np.inf), rows["mover"], movers.size)
        board.apply(movers, rows["option"][pick])


#: Tiny training sizes: the algorithm unchanged.
SMOKE = {"batch_decisions": 96, "ppo_epoch": 2, "num_mini_batch": 2, "hidden_size": 16, "eval_interval": 1,
         "sweeps": 2}
SMOKE_RANGES = make_ranges(cells=(1, 2), users_per_cell=(1, 6), slots=1)


# -- the board ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["small-1", "small-tight", "small-nocloud", "medium-1"])
def test_one_sweep_of_best_responses_is_greedy_offload(name):
    """An independent check of the board's pricing, turn order and memory: taking on every turn the row of the
    highest value against the others' current choices, in one sweep, is greedy-offload's rule (each user, best
    stand-alone value first, takes its best response to those placed before it)."""
    inst = _load(name)
    board = Board([(inst, t) for t in range(inst.slots)], sweeps=1)
    _best_response(board)
    mine = sum(slot_value(inst.options(t), c) for t, c in enumerate(board.choices()))
    greedy = edgeopt.solve(inst, "greedy-offload")
    assert mine == pytest.approx(greedy.objective, rel=1e-9)
    assert float(board.objective_parts().sum()) == pytest.approx(greedy.objective, rel=1e-9)


def test_revision_sweeps_improve_and_stop_when_settled():
    inst = edgeopt.generate("offloading", users=60, edges=2, slots=1, cloud=False, seed=9)
    values = []
    for sweeps in (1, 2, 8):
        board = Board([(inst, 0)], sweeps=sweeps)
        _best_response(board)
        values.append(float(board.objective_parts()[0]))
        if sweeps == 8:
            assert board.done and board.sweep == 8  # ended (settled or all sweeps played)
    assert values[0] <= values[1] + 1e-9 <= values[2] + 2e-9
    assert values[2] >= edgeopt.solve(inst, "greedy-offload").objective - 1e-9


def test_a_moves_reward_is_the_change_of_the_slots_objective():
    """Rewards against an independent oracle: plans.slot_value of the choices before and after each move."""
    inst = _load("medium-1")
    board = Board([(inst, 1)], sweeps=2)
    opts = inst.options(1)
    rng = np.random.default_rng(0)
    checked = 0
    while not board.done:
        movers = board.movers()
        rows = board.rows(movers)
        keys = rng.random(rows["mover"].size) + 10.0 * rows["allowed"]
        pick = _first_best(keys, rows["mover"], movers.size)
        before = slot_value(opts, board.choices()[0])
        board.apply(movers, rows["option"][pick])
        after = slot_value(opts, board.choices()[0])
        unit = board.b_unit[0]
        assert float(rows["reward"][pick].sum()) * unit == pytest.approx(after - before, rel=1e-9, abs=1e-7)
        checked += 1
    assert checked > 10


def test_rows_are_every_usable_option_and_the_mask_keeps_memory_feasible():
    """A mover's rows are refusal and each of its options with a finite cost, none dropped; whatever allowed
    rows are taken, the plan fits every edge's memory (the evaluator checks it)."""
    inst = _load("small-tight")
    board = Board([(inst, t) for t in range(inst.slots)], sweeps=2)
    rng = np.random.default_rng(1)
    while not board.done:
        movers = board.movers()
        rows = board.rows(movers)
        counts = np.bincount(rows["mover"], minlength=movers.size)
        for i, pos in enumerate(movers):
            b, u = board.p_problem[pos], board.p_user[pos]
            opts = inst.options(int(board.problems[b][1]))
            mine = opts.of_user[int(u)]
            finite = np.isfinite(opts.value[mine] - opts.cost[mine].sum(axis=1))
            assert counts[i] == 1 + int(finite.sum())
        pick = _first_best(rng.random(rows["mover"].size) + 10.0 * rows["allowed"], rows["mover"], movers.size)
        board.apply(movers, rows["option"][pick])
    ev = edgeopt.evaluate(inst, plan(inst, board.choices()))
    assert ev.feasible, ev.violations[:3]


def test_an_instance_of_many_configurations_offers_them_all():
    """No cut at a fixed number of configurations: 40 configurations, each reachable (its row present)."""
    data = edgeopt.generate("offloading", users=6, edges=1, slots=1, models=1, seed=4).data
    model = data["models"][0]
    model["configs"] = [dict(model["configs"][0], name=f"c{i:02d}", generation_seconds=10.0 + i) for i in range(40)]
    inst = instance_from_data(data, "<many configurations>")
    board = Board([(inst, 0)])
    movers = board.movers()
    rows = board.rows(movers)
    opts = inst.options(0)
    assert rows["features"].shape[0] == movers.size + sum(opts.of_user[int(board.p_user[p])].size for p in movers)
    r = edgeopt.solve(inst, "mappo")
    assert r.status == edgeopt.Status.FEASIBLE


@pytest.mark.parametrize("name", ["medium-1", "small-tight", "large-2"])
def test_rows_and_states_are_bit_identical_with_the_catalogue_reversed(name):
    inst = _load(name)
    other = _reversed(inst)
    a, b = Board([(inst, 0)]), Board([(other, 0)])
    rng = np.random.default_rng(2)
    while not a.done:
        ma, mb = a.movers(), b.movers()
        ra, rb = a.rows(ma), b.rows(mb)
        assert np.array_equal(ma, mb)
        assert np.array_equal(ra["features"], rb["features"]) and np.array_equal(ra["allowed"], rb["allowed"])
        assert np.array_equal(a.state(), b.state())
        pick = _first_best(rng.random(ra["mover"].size) + 10.0 * ra["allowed"], ra["mover"], ma.size)
        a.apply(ma, ra["option"][pick])
        b.apply(mb, rb["option"][pick])
    assert b.done


# -- the environment ---------------------------------------------------------------------------------------
GENERATOR = {"users": 12, "edges": [1, 2], "shuffle": True}


@pytest.mark.parametrize("make", [lambda: OffloadingEnv(_load("medium-1")),
                                  lambda: OffloadingEnv(_load("small-tight"), sweeps=2),
                                  lambda: OffloadingEnv(generator=GENERATOR, episode_slots=2)],
                         ids=["instance", "tight", "generator"])
@pytest.mark.filterwarnings("ignore:.*:UserWarning")  # PettingZoo's advice on image-like observations and names
def test_pettingzoo_aec_api_and_seed_tests(make):
    pettingzoo_test.api_test(make(), num_cycles=200)
    pettingzoo_test.seed_test(make, num_cycles=100)


def test_spaces_are_cached_and_sized_by_the_instance():
    inst = _load("tiny-1")
    env = OffloadingEnv(inst)
    a = env.possible_agents[0]
    assert env.observation_space(a) is env.observation_space(a) and env.action_space(a) is env.action_space(a)
    assert env.action_space(a).n == 1 + 3 * inst.num_configs
    assert env.observation_space(a)["observation"].shape == (1 + 3 * inst.num_configs, ROW_INPUT)
    env.reset(seed=0)
    assert env.state().shape == (STATE,) and env.state_space.contains(env.state())


def _play(env, seed: int, forbidden_every: int = 0):
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    log = []
    for i, agent in enumerate(env.agent_iter()):
        obs, _, term, trunc, _ = env.last()
        if term or trunc:
            env.step(None)
            continue
        allowed = np.flatnonzero(obs["action_mask"])
        action = int(rng.choice(allowed))
        if forbidden_every and i % forbidden_every == 0 and (obs["action_mask"] == 0).any():
            action = int(np.flatnonzero(obs["action_mask"] == 0)[0])
        t, unit = env.t, env.board.b_unit[0]
        env.step(action)
        log.append((agent, action, t, env.rewards[agent] * unit, env.infos[agent], obs["observation"].copy()))
    return log


def test_the_same_seed_gives_the_same_turns_and_another_seed_others():
    make = lambda: OffloadingEnv(generator=GENERATOR, episode_slots=2)
    first, again, other = _play(make(), 7), _play(make(), 7), _play(make(), 8)
    assert len(first) == len(again)
    for x, y in zip(first, again):
        assert x[:4] == y[:4] and np.array_equal(x[5], y[5])
    assert [x[3] for x in first] != [x[3] for x in other]


@pytest.mark.parametrize("name", ["small-1", "small-nocloud", "medium-2"])
def test_a_random_episodes_rewards_add_up_to_the_evaluators_objective(name):
    """The rewards of an episode (unscaled) sum to the evaluator's objective of the final choices plus the
    refusal penalty of every request; forbidden rows are taken as refusal and said to be."""
    inst = _load(name)
    env = OffloadingEnv(inst, sweeps=2)
    env.reset(seed=3)
    rng = np.random.default_rng(3)
    boards, total, repaired = [], 0.0, 0
    for i, agent in enumerate(env.agent_iter()):
        obs, _, term, trunc, _ = env.last()
        if term or trunc:
            env.step(None)
            continue
        if not boards or boards[-1] is not env.board:
            boards.append(env.board)
        action = int(rng.choice(np.flatnonzero(obs["action_mask"])))
        if i % 7 == 0 and (obs["action_mask"] == 0).any():
            action = int(np.flatnonzero(obs["action_mask"] == 0)[0])
        unit = env.board.b_unit[0]
        env.step(action)
        total += env.rewards[agent] * unit
        repaired += bool(env.infos[agent].get("repaired"))
    assert repaired and len(boards) == inst.slots
    ev = edgeopt.evaluate(inst, plan(inst, [b.choices()[0] for b in boards]))
    assert ev.feasible
    assert total - inst.refusal_penalty * inst.requested.sum() == pytest.approx(ev.objective, rel=1e-9, abs=1e-6)


def test_the_mask_removes_what_cannot_be_done():
    inst = _load("small-nocloud")
    board = Board([(inst, 0)])
    movers = board.movers()
    rows = board.rows(movers)
    place = ROW_FIELDS.index("cloud")
    assert not rows["features"][:, place].any()  # the cloud is disabled: no cloud row
    for i, pos in enumerate(movers):
        mine = rows["option"][(rows["mover"] == i) & (rows["option"] >= 0)]
        k = inst.options(0).config[board.o_index[mine]]
        assert (inst.config_duration_seconds[k] >= inst.requested_seconds[board.p_user[pos], 0] - 1e-9).all()


# -- scenarios ---------------------------------------------------------------------------------------------
def test_the_scenario_space_is_seeded_and_spans_its_ranges():
    a = [sample(np.random.default_rng(5), SMOKE_RANGES) for _ in range(1)]
    b = [sample(np.random.default_rng(5), SMOKE_RANGES) for _ in range(1)]
    assert a[0].hash == b[0].hash
    rng = np.random.default_rng(11)
    drawn = [sample(rng) for _ in range(40)]
    assert {i.cloud_enabled for i in drawn} == {True, False}
    orders = {i.model_names for i in drawn}
    assert len(orders) > 10  # random subsets and orders of the catalogue
    assert {e["gpu"] for i in drawn for e in i.data["edges"]} == {"H100", "A100", "RTX 4090", "laptop RTX 4070",
                                                                   "Jetson AGX Orin"}
    assert min(i.delay_per_second for i in drawn) < 0.05 < max(i.delay_per_second for i in drawn)
    assert max(i.num_edges for i in drawn) > 4


@pytest.mark.parametrize("changes,message", [
    ({"cells": (0, 3)}, "cells: must be whole numbers >= 1"),
    ({"users_per_cell": (1, 5000)}, "users_per_cell: at most 2000"),
    ({"delay_factor": (2.0, 1.0)}, "LOW <= HIGH"),
    ({"energy_factor": (0.0, 1.0)}, "energy_factor: must be > 0"),
    ({"cloud": 1.5}, "cloud: a probability"),
    ({"no_such": (1, 2)}, "unknown range(s) no_such"),
])
def test_bad_ranges_are_named(changes, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_ranges(**changes)


# -- training and the policy file ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    return [mappo.train(ranges=SMOKE_RANGES, steps=300, seed=3, output=out / f"run{i}.pt", hyperparameters=SMOKE,
                        progress=False) for i in (1, 2)]


def test_a_smoke_training_writes_a_policy_a_curve_and_its_plot(smoke):
    report = smoke[0]
    assert report.policy.is_file() and report.curve_png.stat().st_size > 1000
    rows = report.curve_csv.read_text().splitlines()
    assert rows[0].split(",") == list(mappo.CURVE_COLUMNS) and len(rows) == 1 + report.updates == 1 + 4
    assert report.decisions >= 300
    data = torch.load(report.policy, weights_only=True)
    assert set(data) == {"header", "actor", "critic", "value_norm"}
    assert all(isinstance(v, torch.Tensor) for k in ("actor", "critic", "value_norm") for v in data[k].values())
    header = json.loads(data["header"])
    assert header["family"] == "offloading" and header["algorithm"] == "mappo"
    assert header["layout"]["version"] == 2 and header["layout"]["row"] == list(ROW_FIELDS)
    assert header["training"]["seed"] == 3 and header["training"]["ranges"]["users_per_cell"] == [1, 6]
    assert header["hyperparameters"]["gamma"] == 0.99 and header["content_hash"].startswith("sha256:")


def test_two_trainings_with_the_same_seed_give_identical_policy_files(smoke):
    assert smoke[0].policy.read_bytes() == smoke[1].policy.read_bytes()


def test_the_defaults_are_the_reference_implementations():
    cfg = mappo.MAPPOConfig()
    assert (cfg.lr, cfg.critic_lr, cfg.opti_eps, cfg.gamma, cfg.gae_lambda, cfg.clip_param, cfg.entropy_coef,
            cfg.ppo_epoch, cfg.num_mini_batch, cfg.max_grad_norm, cfg.hidden_size, cfg.huber_delta,
            cfg.value_loss_coef) == (5e-4, 5e-4, 1e-5, 0.99, 0.95, 0.2, 0.01, 15, 1, 10.0, 64, 10.0, 1.0)
    assert cfg.use_valuenorm and cfg.use_centralized_V and cfg.use_orthogonal and cfg.gain == 0.01
    assert not mappo.make_config(independent_critic=True).use_centralized_V
    with pytest.raises(ValueError, match="unknown hyperparameter.*no_such"):
        mappo.make_config(no_such=1)
    with pytest.raises(ValueError, match="hidden_size: must be <= 1024"):
        mappo.make_config(hidden_size=2048)


def test_every_allowed_row_has_a_positive_probability_before_the_argmax(smoke):
    """Under the shipped policy and under an untrained one: every allowed row's probability is positive (the
    logits are bounded), every forbidden row's is exactly 0, and each mover's probabilities sum to 1."""
    actors = [mappo.cached_policy(mappo.POLICIES / "offloading-mappo.pt").actor,
              mappo.make_networks(mappo.make_config(hidden_size=16))[0]]
    for inst in (_load("small-tight"), edgeopt.generate("offloading", users=80, edges=2, slots=1, seed=3),
                 edgeopt.generate("offloading", users=30, edges=2, slots=1, cloud=False, energy_per_joule=5.0,
                                  seed=4)):
        board = Board([(inst, 0)])
        rows = board.rows(board.movers())
        x, mover, allowed = (torch.from_numpy(rows[k]) for k in ("features", "mover", "allowed"))
        for actor in actors:
            with torch.no_grad():
                logp = mappo.log_policy(actor, x, mover, allowed, int(rows["context"].shape[0])).double()
            p = torch.exp(logp).numpy()
            assert (p[rows["allowed"]] > 0).all() and (p[~rows["allowed"]] == 0).all()
            assert np.allclose(np.bincount(rows["mover"], weights=p), 1.0, atol=1e-5)


def _rewrite(src, dst, change):
    data = torch.load(src, weights_only=True)
    header = json.loads(data["header"])
    change(header, data)
    data["header"] = header if isinstance(header, str) else json.dumps(header)
    torch.save(data, dst)


def test_a_policy_of_the_old_layout_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="written for edgeopt's first policy layout .* train a new one"):
        mappo.load_policy(DATA / "offloading-mappo-layout1.pt")
    with pytest.raises(ValueError, match="first policy layout"):
        edgeopt.solve(_load("tiny-1"), "mappo", policy=str(DATA / "offloading-mappo-layout1.pt"))


@pytest.mark.parametrize("change,message", [
    (lambda h, d: h["layout"].update(version=3), "layout version is 3, this edgeopt's is 2"),
    (lambda h, d: h["layout"].update(row=["x"]), "layout.s row fields differ from this edgeopt.s .1 against 25; first difference at position 0: .x. against .q_vs_best."),
    (lambda h, d: h.update(family="gap"), "its family is 'gap', this edgeopt's is 'offloading'"),
    (lambda h, d: d["actor"][next(iter(d["actor"]))].add_(1.0), "does not match its content hash"),
    (lambda h, d: h.update(layout=[1, 2]), "has no layout"),
    (lambda h, d: h["hyperparameters"].update(hidden_size=2048), "hidden_size: must be <= 1024"),
    (lambda h, d: h["hyperparameters"].update(layer_N=100000), "layer_N: must be <= 8"),
    (lambda h, d: h["hyperparameters"].update(no_such=1), "hyperparameters are not valid"),
    (lambda h, d: h.update(hyperparameters=None), "hyperparameters are not valid"),
    (lambda h, d: d["actor"].update({next(iter(d["actor"])): 3}), "is not a tensor"),
    (lambda h, d: d["value_norm"].pop("running_mean"), "value_norm tensors do not match"),
    (lambda h, d: d.update(critic=[1, 2]), "critic tensors are not a mapping"),
    (lambda h, d: d["actor"].update({next(iter(d["actor"])): torch.zeros(1).expand(10 ** 6)}), "has shape"),
])
def test_malformed_policy_files_are_refused_before_a_network_is_built(smoke, tmp_path, change, message):
    _rewrite(smoke[0].policy, tmp_path / "bad.pt", change)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        mappo.load_policy(tmp_path / "bad.pt")


def test_files_that_are_no_policy_are_refused(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a policy")
    with pytest.raises(ValueError, match=r"is not an edgeopt policy file \(expected one written by `edgeopt train`"):
        mappo.load_policy(tmp_path / "junk.pt")
    with open(tmp_path / "huge.pt", "wb") as f:  # refused by its size, before a byte is read
        f.truncate(mappo.MAX_POLICY_BYTES + 1)
    with pytest.raises(ValueError, match="an edgeopt policy file is at most"):
        mappo.load_policy(tmp_path / "huge.pt")
    torch.save({"header": json.dumps([1])}, tmp_path / "list.pt")
    with pytest.raises(ValueError, match="header is not a JSON object"):
        mappo.load_policy(tmp_path / "list.pt")
    with pytest.raises(ValueError, match="an empty path"):
        edgeopt.solve(_load("tiny-1"), "mappo", policy="")


# -- the command line ---------------------------------------------------------------------------------------
CLI_SMOKE = [a for k, v in SMOKE.items() for a in ("--set", f"{k}={v}")]
CLI_RANGES = ["--range", "cells=1,2", "--range", "users_per_cell=1,6", "--range", "slots=1"]


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    import contextlib
    import io

    from edgeopt.cli import main

    out = tmp_path_factory.mktemp("cli")
    runs = []
    for i in (1, 2):
        (out / f"run{i}").mkdir()  # -o names a file in a folder that exists (no folder is created)
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(["train", "offloading", *CLI_RANGES, "--steps", "200", "--seed", "5", *CLI_SMOKE,
                         "-o", str(out / f"run{i}" / "policy.pt")])
        runs.append((code, out / f"run{i}" / "policy.pt", stdout.getvalue(), stderr.getvalue()))
    return runs


def test_edgeopt_train_writes_the_policy_its_curve_and_plot(cli_runs):
    code, policy, stdout, stderr = cli_runs[0]
    assert code == 0, stderr
    rows = policy.with_suffix(".csv").read_text().splitlines()
    assert len(rows) == 1 + 3  # ceil(200 / 96) updates
    assert policy.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "rounded up to 3 update(s)" in stderr and "training offloading" in stderr
    assert str(policy) in stdout and "3 updates" in stdout
    header = json.loads(torch.load(policy, weights_only=True)["header"])
    assert header["algorithm"] == "mappo" and header["training"]["seed"] == 5
    assert header["training"]["ranges"]["cells"] == [1, 2] and header["hyperparameters"]["hidden_size"] == 16
    r = edgeopt.solve(_load("small-1"), "mappo", policy=str(policy))
    assert r.status == edgeopt.Status.FEASIBLE


def test_two_cli_trainings_with_the_same_seed_give_identical_policy_files(cli_runs):
    (c1, p1, _, _), (c2, p2, _, _) = cli_runs
    assert c1 == c2 == 0 and p1.read_bytes() == p2.read_bytes()


def test_edgeopt_solve_refuses_the_old_layout_and_foreign_policies_with_exit_2(smoke, tmp_path, capsys):
    from edgeopt.cli import main

    instance = str(INSTANCES / "offloading" / "offload-small-1.json")
    out = tmp_path / "solution.json"
    code = main(["solve", instance, "--solver", "mappo", "--option", f"policy={DATA / 'offloading-mappo-layout1.pt'}",
                 "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "first policy layout" in err and "Traceback" not in err
    assert not out.exists()
    assert main(["solve", instance, "--solver", "mappo", "--option", f"policy={smoke[0].policy}", "--option",
                 "allocation=slsqp", "-o", str(out)]) == 0
    assert out.is_file()
    assert main(["solve", instance, "--solver", "ippo", "--option", f"policy={smoke[0].policy}"]) == 2
    assert "was trained as mappo" in capsys.readouterr().err
    assert main(["solve", instance, "--solver", "mappo", "--option", "sweeps=0"]) == 2
    assert "option sweeps: must be between 1 and 64, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["--steps", "0"], "--steps: must be an integer between 1 and 1000000000"),
    (["--steps", "9" * 400], "--steps: must be an integer between 1 and 1000000000"),
    (["--steps", "5", "--range", "cells=0,3"], "cells: must be whole numbers >= 1"),
    (["--steps", "5", "--range", "cells=1"], "--range cells: expected two numbers LOW,HIGH"),
    (["--steps", "5", "--range", "no_such=1,2"], "--range no_such=1,2: expected NAME=LOW,HIGH"),
    (["--steps", "5", "--range", "users_per_cell=1,1e9"], "users_per_cell: at most 2000"),
    (["--steps", "5", "--range", "cloud=2"], "cloud: a probability"),
    (["--steps", "5", "--set", "no_such=1"], "unknown hyperparameter(s) no_such"),
    (["--steps", "5", "--set", "hidden_size=2.5"], "hidden_size: must be an integer, got 2.5"),
    (["--steps", "5", "--set", "gamma=1.5"], "gamma: must be between 0 and 1"),
    (["offload-small-1.json", "--steps", "5"], "offload-small-1.json"),
    (["gap.json", "--steps", "5"], "is a gap instance"),
])
def test_edgeopt_train_bad_arguments_exit_2_and_write_nothing(argv, message, tmp_path, capsys):
    from edgeopt.cli import main

    files = {"offload-small-1.json": "{not json", "gap.json": None}
    for name, text in files.items():
        if name in argv:
            if text is None:
                edgeopt.save(edgeopt.generate("gap", seed=1), tmp_path / name)
            else:
                (tmp_path / name).write_text(text)
    argv = [str(tmp_path / a) if a in files else a for a in argv]
    out = tmp_path / "out" / "policy.pt"
    code = main(["train", "offloading", *argv, "--quiet", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_edgeopt_train_refuses_an_output_that_would_collide_with_its_curve(tmp_path, capsys):
    from edgeopt.cli import main

    assert main(["train", "offloading", "--steps", "5", "-o", str(tmp_path / "curve.csv")]) == 2
    assert "cannot end in .csv or .png" in capsys.readouterr().err
    (tmp_path / "p.png").mkdir()
    assert main(["train", "offloading", "--steps", "5", "-o", str(tmp_path / "p.pt")]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert not (tmp_path / "p.pt").exists()


# -- the solvers --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("solver", ["mappo", "ippo"])
def test_the_shipped_policies_decide_feasible_plans_without_training(solver):
    for name in ("medium-1", "small-tight", "small-nocloud"):
        inst = _load(name)
        for allocation in ("closed", "slsqp"):
            r = edgeopt.solve(inst, solver, allocation=allocation)
            assert r.status == edgeopt.Status.FEASIBLE, r.message
            assert r.extra["policy"].endswith(f"offloading-{solver}.pt")


@pytest.mark.parametrize("solver", ["mappo", "ippo"])
@pytest.mark.parametrize("make", [lambda: _load("medium-2"), lambda: _load("small-tight"),
                                  lambda: edgeopt.generate("offloading", users=90, edges=3, slots=2, cloud=False,
                                                           max_configs=None, seed=2 ** 31 + 3),
                                  lambda: sample(np.random.default_rng(2 ** 31 + 1))])
def test_the_same_problem_listed_in_another_order_gets_the_same_decisions_bit_for_bit(solver, make):
    inst = make()
    a, b = edgeopt.solve(inst, solver), edgeopt.solve(_reversed(inst), solver)
    assert a.status == b.status == edgeopt.Status.FEASIBLE
    assert _named(inst, a.solution) == _named(_reversed(inst), b.solution)
    assert a.objective == b.objective


@pytest.mark.parametrize("solver", ["mappo", "ippo"])
def test_the_shipped_policies_are_never_worse_than_greedy_offload_on_generated_defaults(solver):
    """A weak floor, far from what the benchmark measures: on generated instances at the generator's defaults
    (seeds the training never draws) the policy is not behind greedy-offload in total."""
    mine = greedy = 0.0
    for seed in range(6):
        inst = edgeopt.generate("offloading", seed=2 ** 31 + 100 + seed)
        mine += edgeopt.solve(inst, solver).objective
        greedy += edgeopt.solve(inst, "greedy-offload").objective
    assert mine >= greedy - 1e-9


# -- the benchmarks, quick -------------------------------------------------------------------------------------
def test_the_papers_comparison_runs_in_quick_mode(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "papers" / "offloading.py"), "--quick",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=600, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mappo+slsqp vs" in proc.stdout and "mean gap" in proc.stdout
    assert (tmp_path / "comparison.png").stat().st_size > 1000
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 * 11  # 4 instances x 11 methods


def test_the_regime_benchmark_runs_in_quick_mode(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "papers" / "offloading_regimes.py"), "--quick",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=600, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "loss/request" in proc.stdout and "headroom left" in proc.stdout
    assert "mappo: identical gap on 2 of 2 reversed scenarios" in proc.stdout
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 2 * 8  # 2 regimes x (original, reversed) x 8 methods


def test_import_edgeopt_loads_no_learning_package():
    code = "import sys, edgeopt; print([m for m in ('torch', 'pettingzoo', 'gymnasium') if m in sys.modules])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stderr


def test_a_time_limit_stops_the_turns_and_leaves_a_valid_plan():
    """Stopped part-way, the moves made stand and the requests not yet placed are refused; the plan is valid.
    The limit is a deadline checked between turns (generous slack: nothing here races the clock)."""
    inst = _load("large-2")
    r = edgeopt.solve(inst, "mappo", time_limit=1e-6)
    assert r.status == edgeopt.Status.FEASIBLE and r.evaluation.feasible
    assert "stopped by the time limit in sweep 1 of 4" in r.raw_status and r.extra["sweeps_played"] == 0
    full = edgeopt.solve(inst, "mappo", sweeps=2)
    assert full.extra["sweeps_played"] == 2 and "stopped" not in full.raw_status
