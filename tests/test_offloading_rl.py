"""The offloading family's learning side: the PettingZoo environment (API, seeding, masks, the reward is the
evaluator's objective), MAPPO training (a smoke run, bit-for-bit repeatable), the policy file (only tensors
and a header; another layout or family refused), the mappo and ippo solvers, and the paper's comparison in
its quick mode."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import INSTANCES, ROOT

import edgeopt
from edgeopt.families.offloading import plan
from edgeopt.io import instance_from_data

torch = pytest.importorskip("torch")
pettingzoo_test = pytest.importorskip("pettingzoo.test")

from edgeopt.families.offloading.env import OffloadingEnv
from edgeopt.families.offloading.observation import (
    ACTIONS,
    K_MAX,
    OBSERVATION,
    REFUSE,
    STATE,
    action_of,
)
from edgeopt.families.offloading.solvers import mappo


def _load(name: str):
    return edgeopt.load(INSTANCES / "offloading" / f"offload-{name}.json")


GENERATOR = {"users": 12, "edges": [1, 2], "models": 4}

#: A training run of a fraction of a second (the algorithm unchanged, the sizes tiny).
SMOKE = {"n_rollout_threads": 2, "episode_length": 6, "ppo_epoch": 2, "hidden_size": 16, "episode_slots": 3,
         "eval_interval": 1, "reward": "difference"}


# -- the environment ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda: OffloadingEnv(_load("medium-1")),
                                  lambda: OffloadingEnv(_load("small-tight"), allocation="slsqp"),
                                  lambda: OffloadingEnv(generator=GENERATOR, episode_slots=4, reward="difference")],
                         ids=["instance", "tight-slsqp", "generator-difference"])
def test_pettingzoo_parallel_api_and_seed_tests(make):
    pettingzoo_test.parallel_api_test(make(), num_cycles=50)
    pettingzoo_test.parallel_seed_test(make, num_cycles=50)


def test_spaces_are_cached_and_do_not_depend_on_the_instance_size():
    small, large = OffloadingEnv(_load("tiny-1")), OffloadingEnv(generator={"users": 150}, episode_slots=2)
    for env in (small, large):
        a = env.possible_agents[0]
        assert env.observation_space(a) is env.observation_space(a) and env.action_space(a) is env.action_space(a)
        assert env.observation_space(a)["observation"].shape == (OBSERVATION,)
        assert env.action_space(a).n == ACTIONS == 3 * K_MAX + 1
        env.reset(seed=0)
        assert env.state().shape == (STATE,) and env.state_space.contains(env.state())


def _rollout(env, seed: int):
    obs, _ = env.reset(seed=seed)
    space_seed = seed
    trajectory = []
    while env.agents:
        actions = {}
        for i, a in enumerate(env.agents):
            space = env.action_space(a)
            space.seed(space_seed * 1000 + i)
            actions[a] = int(space.sample(obs[a]["action_mask"]))
        space_seed += 1
        obs, rewards, _, _, infos = env.step(actions)
        trajectory.append((actions, rewards, {a: o["observation"].copy() for a, o in obs.items()}, infos))
    return trajectory


def test_the_same_seed_gives_the_same_trajectory_and_another_seed_another():
    make = lambda: OffloadingEnv(generator=GENERATOR, episode_slots=3)
    first, again, other = _rollout(make(), 7), _rollout(make(), 7), _rollout(make(), 8)
    for (a1, r1, o1, _), (a2, r2, o2, _) in zip(first, again):
        assert a1 == a2 and r1 == r2 and all(np.array_equal(o1[k], o2[k]) for k in o1)
    assert [r for _, r, _, _ in first] != [r for _, r, _, _ in other]


def _independent_choice(inst, t: int, actions: dict) -> np.ndarray:
    """Each requesting user's option index for its action, found in the option table by (user, config, place)."""
    o = inst.options(t)
    chosen = np.full(o.users.size, -1, dtype=np.int64)
    for i, u in enumerate(o.users):
        a = actions[inst.user_names[u]]
        if a != REFUSE:
            k, p = divmod(a, 3)
            (match,) = np.flatnonzero((o.user == u) & (o.config == k) & (o.place == p))
            chosen[i] = match
    return chosen


@pytest.mark.parametrize("name,allocation", [("medium-1", "closed"), ("large-1", "closed"), ("small-nocloud", "slsqp"),
                                             ("medium-2", "equal")])
def test_a_random_rollout_returns_the_evaluators_objective(name, allocation):
    """The summed team reward, unscaled, is the evaluator's objective of the same decisions assembled by
    plans.plan (the decisions read independently from the option table). Rounding only: the evaluator sums
    over every slot at once, the environment slot by slot."""
    inst = _load(name)
    env = OffloadingEnv(inst, allocation=allocation)
    trajectory = _rollout(env, seed=3)
    total = sum(rewards[env.possible_agents[0]] for _, rewards, _, _ in trajectory)
    assert all(len(set(r.values())) == 1 for _, r, _, _ in trajectory)  # shared by the team
    assert not any(i["repaired"] for _, _, _, infos in trajectory for i in infos.values())
    chosen = [_independent_choice(inst, t, actions) for t, (actions, _, _, _) in enumerate(trajectory)]
    ev = edgeopt.evaluate(inst, plan(inst, chosen, allocation))
    assert ev.feasible
    assert total / env.reward_scale == pytest.approx(ev.objective, rel=1e-12)
    slots = [infos[env.possible_agents[0]]["objective"] for _, _, _, infos in trajectory]
    assert sum(slots) == pytest.approx(ev.objective, rel=1e-12)


def test_forbidden_actions_and_memory_overflow_are_repaired_to_refusal():
    inst = _load("small-tight")  # 32 and 40 GB edges: not every model fits at once
    env = OffloadingEnv(inst)
    _, mask = env.reset_arrays()
    slot = env.slot
    # every user asks for an edge option of a different model where it can, and one asks for a forbidden action
    o = inst.options(0)
    actions = np.full(inst.num_users, REFUSE)
    for i, u in enumerate(o.users):
        edge = [j for j in o.of_user[int(u)] if o.place[j] == 1]
        if edge:
            j = edge[i % len(edge)]
            actions[u] = action_of(o.config[j], o.place[j])
    idle = np.flatnonzero(~inst.requested[:, 0])
    forbidden = np.flatnonzero(~mask[o.users[0], :REFUSE])[0]
    actions[o.users[0]] = forbidden
    if idle.size:
        actions[idle[0]] = 0  # a user who asks nothing may only stay idle
    chosen, repaired = slot.decide(actions)
    assert chosen[0] == -1 and repaired[o.users[0]]
    if idle.size:
        assert repaired[idle[0]]
    assert repaired.sum() >= 2  # the memory of the edges forced some refusals too
    sol = plan(inst, [chosen] + [np.full(inst.options(t).users.size, -1) for t in range(1, inst.slots)])
    assert edgeopt.evaluate(inst, sol).feasible


def test_the_mask_removes_what_cannot_be_done():
    inst = _load("small-nocloud")
    env = OffloadingEnv(inst)
    obs, _ = env.reset(seed=0)
    for u, name in enumerate(inst.user_names):
        m = obs[name]["action_mask"].astype(bool)
        assert m[REFUSE]
        if not inst.requested[u, 0]:
            assert m.sum() == 1  # nothing asked: idle only
            continue
        allowed = {(a // 3, a % 3) for a in np.flatnonzero(m[:REFUSE])}
        assert all(p != 2 for _, p in allowed)  # the cloud is disabled
        for k, p in allowed:
            assert inst.config_duration_seconds[k] >= inst.requested_seconds[u, 0] - 1e-9
            if p == 0:
                d = inst.user_device[u]
                assert inst.device_can_run[d, inst.config_model[k]] and inst.device_speed[d] > 0


def test_the_difference_reward_is_each_users_marginal_value():
    inst = _load("medium-1")
    env = OffloadingEnv(inst, reward="difference")
    _, mask = env.reset_arrays()
    rng = np.random.default_rng(0)
    actions = np.array([rng.choice(np.flatnonzero(m)) for m in mask])
    slot = env.slot
    chosen, _ = slot.decide(actions)
    _, _, rewards, _, _ = env.step_arrays(actions)
    base = slot.objective(chosen)
    for i in np.flatnonzero(chosen >= 0)[:5]:
        without = chosen.copy()
        without[i] = -1
        u = slot.opts.users[i]
        assert rewards[u] * 100.0 == pytest.approx(base - slot.objective(without), rel=1e-9, abs=1e-9)


# -- training and the policy file ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    reports = [mappo.train([INSTANCES / "offloading" / "offload-small-1.json"], users=[6], edges=[1, 2], steps=24,
                           seed=3, output=out / f"run{i}.pt", hyperparameters=SMOKE, progress=False) for i in (1, 2)]
    return reports


def test_a_smoke_training_writes_a_policy_a_curve_and_its_plot(smoke):
    report = smoke[0]
    assert report.policy.is_file() and report.curve_png.stat().st_size > 1000
    rows = report.curve_csv.read_text().splitlines()
    assert rows[0].split(",") == list(mappo.CURVE_COLUMNS) and len(rows) == 1 + report.updates == 1 + 2
    assert report.env_steps == 24
    data = torch.load(report.policy, weights_only=True)
    assert set(data) == {"header", "actor", "critic", "value_norm"}
    assert all(isinstance(v, torch.Tensor) for k in ("actor", "critic", "value_norm") for v in data[k].values())
    header = json.loads(data["header"])
    assert header["family"] == "offloading" and header["algorithm"] == "mappo"
    assert header["layout"]["version"] == mappo.LAYOUT["version"]
    assert header["training"]["seed"] == 3 and header["training"]["instances"][0]["name"] == "offload-small-1"
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


def _rewrite(src, dst, change):
    data = torch.load(src, weights_only=True)
    header = json.loads(data["header"])
    change(header, data)
    data["header"] = json.dumps(header)
    torch.save(data, dst)


def test_a_policy_of_another_layout_or_family_or_a_damaged_one_is_refused(smoke, tmp_path):
    src = smoke[0].policy
    _rewrite(src, tmp_path / "old.pt", lambda h, d: h["layout"].update(version=0))
    with pytest.raises(ValueError, match=r"observation layout version is 0, this edgeopt's is 1"):
        mappo.load_policy(tmp_path / "old.pt")
    _rewrite(src, tmp_path / "wide.pt", lambda h, d: h["layout"].update(k_max=32))
    with pytest.raises(ValueError, match=r"observation layout's k_max is 32, this edgeopt's is 16"):
        mappo.load_policy(tmp_path / "wide.pt")
    _rewrite(src, tmp_path / "gap.pt", lambda h, d: h.update(family="gap"))
    with pytest.raises(ValueError, match=r"its family is 'gap', this edgeopt's is 'offloading'"):
        mappo.load_policy(tmp_path / "gap.pt")
    _rewrite(src, tmp_path / "edited.pt", lambda h, d: d["actor"][next(iter(d["actor"]))].add_(1.0))
    with pytest.raises(ValueError, match="does not match its content hash"):
        mappo.load_policy(tmp_path / "edited.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a policy")
    with pytest.raises(ValueError, match=r"is not an edgeopt policy file \(expected one written by `edgeopt train`"):
        mappo.load_policy(tmp_path / "junk.pt")
    with open(tmp_path / "huge.pt", "wb") as f:  # refused by its size, before a byte is read
        f.truncate(mappo.MAX_POLICY_BYTES + 1)
    with pytest.raises(ValueError, match="an edgeopt policy file is at most"):
        mappo.load_policy(tmp_path / "huge.pt")
    inst = _load("tiny-1")
    with pytest.raises(ValueError, match="observation layout version is 0"):
        edgeopt.solve(inst, "mappo", policy=str(tmp_path / "old.pt"))


# -- the command line: edgeopt train, and a policy given to edgeopt solve ------------------------------------
#: The SMOKE sizes as --set arguments.
CLI_SMOKE = [a for k, v in SMOKE.items() for a in ("--set", f"{k}={v}")]


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """Two CLI trainings with the same seed (6 users on 1 or 2 edges, 4 updates of 2 x 6 slots), with what
    each printed on stdout and stderr."""
    from edgeopt.cli import main

    out = tmp_path_factory.mktemp("cli")
    runs = []
    for i in (1, 2):
        import contextlib
        import io

        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(["train", "offloading", "--users", "6", "--edges", "1,2", "--generate", "max_configs=2,3",
                         "--steps", "48", "--seed", "5", *CLI_SMOKE, "-o", str(out / f"run{i}" / "policy.pt")])
        runs.append((code, out / f"run{i}" / "policy.pt", stdout.getvalue(), stderr.getvalue()))
    return runs


def test_edgeopt_train_writes_the_policy_its_curve_and_plot_with_a_progress_bar(cli_runs):
    code, policy, stdout, stderr = cli_runs[0]
    assert code == 0, stderr
    updates = -(-48 // (SMOKE["n_rollout_threads"] * SMOKE["episode_length"]))  # ceil: 4
    rows = policy.with_suffix(".csv").read_text().splitlines()
    assert len(rows) == 1 + updates and rows[-1].split(",")[1] == "48"
    assert policy.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "training offloading" in stderr and "48/48" in stderr  # the progress bar reached the end
    assert str(policy) in stdout and "48 environment steps, 4 updates" in stdout
    header = json.loads(torch.load(policy, weights_only=True)["header"])
    assert header["algorithm"] == "mappo" and header["training"]["seed"] == 5
    assert header["training"]["generator"] == [{"max_configs": [2, 3], "users": 6, "edges": [1, 2]}]
    assert header["hyperparameters"]["hidden_size"] == 16 and header["hyperparameters"]["reward"] == "difference"
    r = edgeopt.solve(_load("small-1"), "mappo", policy=str(policy))
    assert r.status == edgeopt.Status.FEASIBLE


def test_two_cli_trainings_with_the_same_seed_give_identical_policy_files(cli_runs):
    (c1, p1, _, _), (c2, p2, _, _) = cli_runs
    assert c1 == c2 == 0
    assert p1.read_bytes() == p2.read_bytes()
    assert p1.with_suffix(".csv").read_text().count("\n") == p2.with_suffix(".csv").read_text().count("\n")


def test_edgeopt_solve_refuses_a_policy_of_another_layout_with_exit_2(smoke, tmp_path, capsys):
    from edgeopt.cli import main

    _rewrite(smoke[0].policy, tmp_path / "old.pt", lambda h, d: h["layout"].update(version=0))
    instance = str(INSTANCES / "offloading" / "offload-small-1.json")
    out = tmp_path / "solution.json"
    code = main(["solve", instance, "--solver", "mappo", "--option", f"policy={tmp_path / 'old.pt'}", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "observation layout version is 0, this edgeopt's is 1" in err and "Traceback" not in err
    assert not out.exists()
    # the same file with its layout intact is used
    assert main(["solve", instance, "--solver", "mappo", "--option", f"policy={smoke[0].policy}", "--option",
                 "allocation=slsqp", "-o", str(out)]) == 0
    assert out.is_file()
    # an IPPO solver does not take a MAPPO policy
    assert main(["solve", instance, "--solver", "ippo", "--option", f"policy={smoke[0].policy}"]) == 2
    assert "was trained as mappo" in capsys.readouterr().err
    # --option names and values are the solver's
    assert main(["solve", instance, "--solver", "mappo", "--option", "no_such=1"]) == 2
    assert "solver 'mappo' takes policy, allocation" in capsys.readouterr().err
    assert main(["solve", instance, "--solver", "mappo", "--option", "allocation=fast"]) == 2
    assert "option allocation: must be one of 'closed', 'slsqp', 'equal', got 'fast'" in capsys.readouterr().err
    assert main(["solve", instance, "--solver", "random-offload", "--option", "keep_probability=0"]) == 2
    assert "option keep_probability: must be in (0.0, 1.0], got 0" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["--steps", "5"], "give offloading instance files, or --users"),
    (["--users", "6", "--steps", "0"], "--steps: must be an integer >= 1"),
    (["--users", "6,x", "--steps", "5"], "--users: must be comma-separated integers"),
    (["--edges", "2", "--steps", "5"], "--edges and --generate describe generated streams; give --users too"),
    (["--users", "6", "--steps", "5", "--set", "no_such=1"], "unknown hyperparameter(s) no_such"),
    (["--users", "6", "--steps", "5", "--set", "hidden_size=2.5"], "hidden_size: must be an integer, got 2.5"),
    (["--users", "6", "--steps", "5", "--set", "gamma=1.5"], "gamma: must be between 0 and 1"),
    (["--users", "6", "--steps", "5", "--generate", "seed=3"], "--generate seed=3: expected KEY=VALUE with KEY one of"),
    (["--users", "6", "--steps", "5", "--generate", "cloud=maybe"], "--generate cloud: must be true or false"),
    (["--users", "6", "--steps", "5", "--generate", "models=no-such-model"], "no text-to-video model 'no-such-model'"),
    (["--users", "6", "--edges", "2", "--steps", "5", "--generate", "models=cogvideox-5b", "--generate", "cloud=false",
      *CLI_SMOKE],
     "gave an invalid instance; change them"),
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

    assert main(["train", "offloading", "--users", "6", "--steps", "5", "-o", str(tmp_path / "curve.csv")]) == 2
    assert "cannot end in .csv or .png" in capsys.readouterr().err
    (tmp_path / "p.png").mkdir()
    assert main(["train", "offloading", "--users", "6", "--steps", "5", "-o", str(tmp_path / "p.pt")]) == 2
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
    big = edgeopt.generate("offloading", users=100, edges=3, slots=2, seed=2 ** 31 + 5)
    r = edgeopt.solve(big, solver)
    assert r.status == edgeopt.Status.FEASIBLE and r.evaluation.stats["served"] > 0.9 * big.requested.sum()


def test_an_instance_with_more_configurations_than_the_action_space_holds():
    """Configurations past K_MAX are not offered to the policy; the plan stays valid."""
    data = edgeopt.generate("offloading", users=6, edges=1, slots=1, models=1, seed=4).data
    model = data["models"][0]
    model["configs"] = [dict(model["configs"][0], name=f"c{i}", generation_seconds=10.0 + i) for i in range(K_MAX + 4)]
    inst = instance_from_data(data, "<many configurations>")
    r = edgeopt.solve(inst, "mappo")
    assert r.status == edgeopt.Status.FEASIBLE
    assert (r.solution.config[r.solution.config >= 0] < K_MAX).all()


# -- the benchmark, quick -------------------------------------------------------------------------------------
def test_the_papers_comparison_runs_in_quick_mode(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "papers" / "offloading.py"), "--quick",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mappo+slsqp vs" in proc.stdout and "mean gap" in proc.stdout
    assert (tmp_path / "comparison.png").stat().st_size > 1000
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 * 10  # 4 instances x 10 methods


def test_import_edgeopt_loads_no_learning_package():
    code = "import sys, edgeopt; print([m for m in ('torch', 'pettingzoo', 'gymnasium') if m in sys.modules])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stderr
