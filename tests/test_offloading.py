"""The offloading family: its heuristics and baselines against brute force and the evaluator, the three share
allocations, the command line on an offloading file, and a table of malformed files."""
from __future__ import annotations

import copy
import itertools
import json
from typing import Callable, NamedTuple

import numpy as np
import pytest

import edgeopt
from edgeopt.cli import main
from edgeopt.families.offloading import plans
from edgeopt.families.offloading.solvers.heuristics import SlotState, greedy
from edgeopt.io import instance_from_data
from edgeopt.registry import SOLVERS

from conftest import INSTANCES

HEURISTICS = ["all-local", "all-edge", "all-cloud", "random-offload", "greedy-offload", "offload-ls"]
ALLOCATIONS = ("closed", "slsqp", "equal")
RTOL = 1e-9


def _tight(inst, memory_gb: float):
    """The instance with every edge's GPU memory set to ``memory_gb`` (the generator's edges hold every model)."""
    data = copy.deepcopy(inst.data)
    for edge in data["edges"]:
        edge["gpu_memory_gb"] = memory_gb
    return instance_from_data(data, f"<{inst.name}, {memory_gb:g} GB edges>")


def _tiny(seed: int, **kw):
    params = dict(users=3, edges=1, slots=1, request_probability=1.0, seed=seed)
    params.update(kw)
    return edgeopt.generate("offloading", name=f"tiny-{seed}", **params)


#: Tiny instances for brute force: 2-3 users, one edge, one or two slots; memory binding in some, no cloud in some.
TINY = [
    _tiny(0), _tiny(1, users=2), _tiny(2, cloud=False), _tiny(3, models=["open-sora-1.2", "cogvideox-2b"]),
    _tight(_tiny(4, models=4), 32.0), _tight(_tiny(5, models=4, cloud=False), 30.0), _tiny(6, slots=2, users=2),
    _tiny(7, cell_radius_m=5000.0, delay_per_second=0.5), _tight(_tiny(8, models=4, max_configs=None, users=2), 26.0),
    _tiny(9, cloud=False, delay_per_second=1.0, refusal_penalty=0.0),
]
BUNDLED = sorted((INSTANCES / "offloading").glob("*.json"))
#: Bundled instances small enough to solve with every heuristic and allocation in a few seconds.
SMALL = [p for p in BUNDLED if "tiny" in p.stem or "small" in p.stem or p.stem == "offload-medium-1"]


def brute_force(inst) -> float:
    """The optimum with closed-form shares: every combination of the users' options and refusal, slot by slot,
    kept when the models it needs fit the edges' memory (from the option tables, not from any solver)."""
    total = 0.0
    for t in range(inst.slots):
        opts = inst.options(t)
        choices = [list(opts.of_user[int(u)]) + [-1] for u in opts.users]
        best = -np.inf
        for combo in itertools.product(*choices):
            chosen = np.array(combo, dtype=np.int64)
            if plans.fits_memory(inst, opts, chosen):
                best = max(best, plans.slot_value(opts, chosen))
        total += best
    return total


def _worse_or_equal(a: float, b: float) -> bool:
    """a <= b up to rounding (maximisation)."""
    return a <= b + RTOL * max(1.0, abs(a), abs(b))


# -- against brute force -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def optima():
    return [brute_force(inst) for inst in TINY]


def test_the_tiny_catalogue_tests_something(optima):
    """Memory binds somewhere (the optimum without the memory limit is better), and some optimum refuses,
    serves locally, at the edge and in the cloud."""
    binds = 0
    for inst in TINY:
        if inst.edge_memory_gb.max() < 80:
            binds += brute_force(_tight(inst, 1000.0)) > brute_force(inst) + 1e-6
    assert binds >= 1
    places = set()
    for inst in TINY:
        plan = edgeopt.solve(inst, "offload-ls").evaluation.stats
        places |= {p for p in ("local", "edge", "cloud", "refused") if plan[p] > 0}
    assert places == {"local", "edge", "cloud", "refused"}


@pytest.mark.parametrize("solver", HEURISTICS)
def test_heuristics_are_feasible_and_never_beat_the_brute_force_optimum(solver, optima):
    for inst, optimum in zip(TINY, optima):
        for allocation in ALLOCATIONS:
            r = edgeopt.solve(inst, solver, allocation=allocation, seed=1)
            assert r.status == edgeopt.Status.FEASIBLE, (inst.name, allocation, r.message)
            assert r.evaluation.feasible and r.bound is None
            assert _worse_or_equal(r.objective, optimum), (inst.name, allocation, r.objective, optimum)
            assert r.extra["allocation"] == allocation and allocation in r.raw_status.lower().replace(
                "closed-form", "closed")


def test_heuristics_never_beat_offload_enumerate():
    if ("offloading", "offload-enumerate") not in SOLVERS:
        pytest.skip("offload-enumerate is not registered yet (the brute force above stands in for it)")
    for inst in TINY:
        optimum = edgeopt.solve(inst, "offload-enumerate")
        assert optimum.status == edgeopt.Status.OPTIMAL
        for solver in HEURISTICS:
            assert _worse_or_equal(edgeopt.solve(inst, solver, seed=0).objective, optimum.objective), solver


def test_local_search_reaches_most_tiny_optima(optima):
    """Not a promise of optimality, a check that the search works: it beats greedy or ties it everywhere,
    and finds the brute-force optimum on most tiny instances."""
    hits = 0
    for inst, optimum in zip(TINY, optima):
        ls, greedy = edgeopt.solve(inst, "offload-ls"), edgeopt.solve(inst, "greedy-offload")
        assert _worse_or_equal(greedy.objective, ls.objective)
        hits += abs(ls.objective - optimum) <= 1e-6 * max(1.0, abs(optimum))
    assert hits >= len(TINY) - 2, hits


# -- the bundled instances: feasible, deterministic, closed >= slsqp >= equal --------------------------------
@pytest.mark.parametrize("path", SMALL, ids=lambda p: p.stem)
def test_every_plan_is_feasible_and_closed_beats_slsqp_beats_equal(path):
    inst = edgeopt.load(path)
    for solver in HEURISTICS:
        value = {}
        for allocation in ALLOCATIONS:
            r = edgeopt.solve(inst, solver, allocation=allocation, seed=0)
            assert r.status == edgeopt.Status.FEASIBLE and r.evaluation.feasible, (solver, allocation, r.message)
            value[allocation] = r.objective
        assert _worse_or_equal(value["slsqp"], value["closed"]), (solver, value)
        assert _worse_or_equal(value["equal"], value["slsqp"]), (solver, value)


def test_closed_form_value_is_the_slot_value_and_the_evaluators():
    """The objective of a closed-form plan is the sum of plans.slot_value over its slots (what the heuristics
    optimise), and a change priced by SlotState.deltas is the change of slot_value."""
    inst = edgeopt.load(INSTANCES / "offloading" / "offload-medium-1.json")
    states = [SlotState(inst, t) for t in range(inst.slots)]
    for state in states:
        assert greedy(state, "value", None)
    r = edgeopt.solve(inst, "greedy-offload")
    assert sum(s.value() for s in states) == pytest.approx(r.objective, rel=1e-9)
    assert plans.fits_memory(inst, states[0].opts, states[0].chosen)
    rng = np.random.default_rng(0)
    state = states[0]
    for _ in range(100):
        k = int(rng.integers(state.opts.num_options))
        delta = state.deltas(np.array([k]))[0]
        if not np.isfinite(delta):
            continue
        before = state.value()
        state.set(int(state.pos[k]), k)
        assert state.value() - before == pytest.approx(delta, rel=1e-7, abs=1e-7)


def test_same_seed_same_plan_and_seeds_matter():
    inst = edgeopt.load(INSTANCES / "offloading" / "offload-small-tight.json")
    decisions = lambda r: json.dumps(edgeopt.family("offloading").solution_to_data(inst, r.solution),  # noqa: E731
                                     sort_keys=True)
    for solver in HEURISTICS:
        a, b = edgeopt.solve(inst, solver, seed=5), edgeopt.solve(inst, solver, seed=5)
        assert decisions(a) == decisions(b) and a.objective == b.objective, solver
    plans_by_seed = {decisions(edgeopt.solve(inst, "random-offload", seed=s)) for s in range(5)}
    assert len(plans_by_seed) >= 3


def test_baselines_do_what_they_say():
    inst = edgeopt.load(INSTANCES / "offloading" / "offload-small-1.json")
    nocloud = edgeopt.load(INSTANCES / "offloading" / "offload-small-nocloud.json")
    for solver, place in (("all-local", 0), ("all-edge", 1), ("all-cloud", 2)):
        sol = edgeopt.solve(inst, solver).solution
        assert set(np.unique(sol.place[sol.config >= 0]).tolist()) <= {place}, solver
    r = edgeopt.solve(nocloud, "all-cloud")
    assert r.status == edgeopt.Status.FEASIBLE and r.evaluation.stats["served"] == 0
    assert r.objective == pytest.approx(-nocloud.refusal_penalty * nocloud.requested.sum())
    local = edgeopt.solve(inst, "all-local").solution
    for t in range(inst.slots):
        opts = inst.options(t)
        can = {int(u) for u in opts.user[opts.place == 0]}
        assert {int(u) for u in np.flatnonzero(local.config[:, t] >= 0)} == can


def test_greedy_and_local_search_respect_a_tight_memory():
    inst = edgeopt.load(INSTANCES / "offloading" / "offload-small-tight.json")
    for solver in ("greedy-offload", "offload-ls", "all-edge", "random-offload"):
        sol = edgeopt.solve(inst, solver).solution
        used = np.einsum("emt,m->et", sol.loaded, inst.model_memory_gb)
        assert (used <= inst.edge_memory_gb[:, None] + 1e-9).all(), solver
    loaded = edgeopt.solve(inst, "offload-ls").solution.loaded
    assert loaded.sum(axis=1).max() >= 2  # two models share an edge somewhere


def test_local_search_options_and_time_limit():
    inst = edgeopt.load(INSTANCES / "offloading" / "offload-medium-1.json")
    greedy = edgeopt.solve(inst, "greedy-offload")
    best = edgeopt.solve(inst, "offload-ls", strategy="best")
    first = edgeopt.solve(inst, "offload-ls", strategy="first")
    for r in (best, first):
        assert _worse_or_equal(greedy.objective, r.objective) and "converged" in r.raw_status
    assert best.extra["greedy_value"] == pytest.approx(greedy.objective, rel=1e-9)
    capped = edgeopt.solve(inst, "offload-ls", max_moves=1)
    assert capped.extra["moves"] <= 1 and "max_moves=1" in capped.raw_status
    assert edgeopt.solve(inst, "offload-ls", order="index").status == edgeopt.Status.FEASIBLE
    with pytest.raises(ValueError, match="option strategy"):
        edgeopt.solve(inst, "offload-ls", strategy="worst")
    with pytest.raises(ValueError, match="option allocation"):
        edgeopt.solve(inst, "greedy-offload", allocation="cvxpy")
    with pytest.raises(ValueError, match="option keep_probability: must be in \\(0.0, 1.0\\]"):
        edgeopt.solve(inst, "random-offload", keep_probability=0.0)
    large = edgeopt.load(INSTANCES / "offloading" / "offload-large-2.json")
    r = edgeopt.solve(large, "offload-ls", time_limit=0.05, allocation="slsqp")
    assert r.status == edgeopt.Status.FEASIBLE and r.evaluation.feasible
    assert "time limit" in r.raw_status and r.build_seconds + r.solve_seconds < 2.0


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_an_option_of_infinite_cost_is_never_taken():
    """A user so far out that its spectral efficiency rounds to 0 has options of infinite cost: every
    heuristic leaves them (refuses the user or serves it locally) and its plan stays finite and feasible."""
    data = edgeopt.generate("offloading", users=3, edges=1, slots=1, request_probability=1.0, seed=1).data
    data["users"][0].update(device="phone", distance_m=[1e5], shadowing_db=[100.0])
    data["radio"]["noise_dbm_per_hz"] = -100.0
    inst = instance_from_data(data, "<far user>")
    assert inst.uplink_efficiency[0, 0] > 0.0  # log1p: at -300 dB the rate is tiny, not 0 (it once was)
    for solver in HEURISTICS:
        for allocation in ALLOCATIONS:
            r = edgeopt.solve(inst, solver, allocation=allocation)
            assert r.status == edgeopt.Status.FEASIBLE and np.isfinite(r.objective), (solver, allocation)


def test_zero_delay_and_energy_weights_give_feasible_plans():
    """A user whose delay and energy weigh nothing still gets a share of what it uses (once it got none)."""
    inst = edgeopt.generate("offloading", users=6, seed=1, delay_per_second=0.0, energy_per_joule=0.0)
    r = edgeopt.solve(inst, "greedy-offload")
    assert r.status == edgeopt.Status.FEASIBLE, r.message


# -- the command line on an offloading file --------------------------------------------------------------
def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_cli_show_solve_check_generate_schema(capsys, tmp_path):
    path = INSTANCES / "offloading" / "offload-small-tight.json"
    code, out, err = _run(capsys, "show", path)
    assert code == 0 and "kind        offloading (maximise)" in out and "options " in out
    sol = tmp_path / "sol.json"
    code, out, err = _run(capsys, "solve", path, "--solver", "offload-ls", "--seed", "3", "--time-limit", "10",
                          "-o", sol)
    assert code == 0, err
    assert "feasible" in out and "offload-ls" in out and "closed-form" in out
    assert json.loads(sol.read_text())["solver"] == "offload-ls"
    code, out, err = _run(capsys, "check", path, sol)
    assert code == 0 and "feasible    yes" in out
    gen = tmp_path / "gen.json"
    code, out, err = _run(capsys, "generate", "offloading", "--users", "7", "--edges", "2", "--slots", "3",
                          "--no-cloud", "--seed", "4", "-o", gen)
    assert code == 0, err
    inst = edgeopt.load(gen)
    assert (inst.num_users, inst.num_edges, inst.slots, inst.cloud_enabled) == (7, 2, 3, False)
    assert inst.hash == edgeopt.generate("offloading", users=7, edges=2, slots=3, cloud=False, seed=4).hash
    code, out, err = _run(capsys, "schema", "offloading")
    assert code == 0 and json.loads(out)["properties"]["kind"] == {"const": "offloading"}
    code, out, err = _run(capsys, "solvers")
    assert code == 0 and all(name in out for name in HEURISTICS)


# -- malformed files ----------------------------------------------------------------------------------------
BASE = edgeopt.generate("offloading", users=3, edges=2, slots=2, seed=0).data


class Bad(NamedTuple):
    id: str
    content: Callable[[], str]
    path: str  # the JSON path the message must name
    fragment: str  # what it must say


def _edit(change: Callable[[dict], object]) -> Callable[[], str]:
    def content() -> str:
        data = copy.deepcopy(BASE)
        change(data)
        return json.dumps(data, indent=1)

    return content


def _put(*path_and_value) -> Callable[[], str]:
    *keys, value = path_and_value

    def change(data):
        for k in keys[:-1]:
            data = data[k]
        data[keys[-1]] = value

    return _edit(change)


def _literal(old: str, new: str) -> Callable[[], str]:
    """The base document's text with the first ``old`` replaced (for NaN and Infinity, which JSON cannot say)."""
    return lambda: json.dumps(BASE, indent=1).replace(old, new, 1)


def _served_nowhere(data: dict) -> None:
    data["cloud"]["enabled"] = False
    for edge in data["edges"]:
        edge["gpu_memory_gb"] = 1.0
    data["users"][1]["device"] = "phone"


def _nobody_served(data: dict) -> None:
    """The only model's configurations exceed every edge, no device runs one, no cloud."""
    data.update(models=[m for m in data["models"] if m["name"] == "open-sora-1.2"])
    for dev in data["devices"]:
        dev.update(local_models=[])
    data["cloud"].update(enabled=False)
    for e in data["edges"]:
        e.update(gpu_memory_gb=24.0)
    for u in data["users"]:
        u.update(device="phone")


@pytest.mark.parametrize("edit", [_served_nowhere, _nobody_served], ids=["one user", "every user"])
def test_a_user_who_can_be_served_nowhere_is_accepted_and_refused_at_the_penalty(tmp_path, edit):
    """Issue 19, item 14: docs/formulations.md defines such a user (it can only be refused); the loader used to
    refuse the file ("can be served nowhere"), and the generator made files its own loader refused. Now the
    file loads; every solver refuses that user, and the exact methods agree."""
    data = copy.deepcopy(BASE)
    edit(data)
    f = tmp_path / "nowhere.json"
    f.write_text(json.dumps(data, indent=1))
    inst = edgeopt.load(f)
    stranded = [u for u in range(inst.num_users) if inst.requested[u].any()
                and all(not (inst.options(t).user == u).any() for t in range(inst.slots) if inst.requested[u, t])]
    assert stranded
    objectives = {}
    for s in edgeopt.solvers():
        if s.family != "offloading" or not s.available:
            continue
        r = edgeopt.solve(inst, s.name, seed=0)
        assert r.evaluation is not None and r.evaluation.feasible, (s.name, r.message)
        assert (np.asarray(r.solution.config)[stranded] < 0).all(), s.name
        objectives[s.name] = r.objective
    exact = [objectives[n] for n in ("offload-enumerate", "offload-oa", "offload-miqp")]
    assert max(exact) - min(exact) <= 1e-6 * max(1.0, abs(exact[0]))
    assert all(v <= exact[0] + 1e-6 * max(1.0, abs(exact[0])) for v in objectives.values())


@pytest.mark.parametrize("family", ["offloading", "serving"])
def test_the_generator_only_makes_instances_its_loader_accepts(family):
    """Issue 19, item 14: 6 of 40 seeds with one edge, one model and no cloud were refused by the loader."""
    extra = {"slots": 3} if family == "serving" else {}
    stranded = 0
    for seed in range(40):
        for params in ({"users": 6, "edges": 1, "models": 1, "cloud": False},
                       {"users": 5, "edges": 2, "models": 2, "cloud": False, "edge_gpus": ["laptop RTX 4070"]}):
            inst = edgeopt.generate(family, seed=seed, **params, **extra)
            stranded += sum(bool(inst.requested[:, t].any()) and inst.options(t).num_options == 0
                            for t in range(inst.slots))
            assert edgeopt.solve(inst, "greedy-offload" if family == "offloading" else "lru-greedy").evaluation.feasible
    assert stranded > 0  # the parameters do make slots whose requests can be served nowhere


FIRST_CONFIG = BASE["models"][0]["configs"][0]["name"]
GPUS = "(gpus: 'H100', 'A100', 'RTX 4090', 'laptop RTX 4070', 'Jetson AGX Orin')"
BAD = [
    Bad("negative bandwidth", _put("edges", 0, "uplink_hz", -1e6), "edges[0].uplink_hz",
        "must be >= 1e-06, got -1000000"),
    Bad("zero downlink", _put("edges", 1, "downlink_hz", 0), "edges[1].downlink_hz", "must be >= 1e-06, got 0"),
    Bad("device runs a model it does not list", _put("devices", 1, "local_models", ["sora-2"]),
        "devices[1].local_models[0]", "no model named 'sora-2'"),
    Bad("local models but no GPU", _put("devices", 0, "local_models", ["animatediff-lcm"]), "devices[0].local_models",
        "a device without a GPU (gpu null) or without GPU memory runs no model"),
    Bad("unknown edge", _put("users", 0, "edge", "edge9"), "users[0].edge",
        "no edge named 'edge9' (edges: 'edge0', 'edge1')"),
    Bad("unknown device", _put("users", 2, "device", "tablet"), "users[2].device", "no device named 'tablet'"),
    Bad("unknown edge GPU", _put("edges", 1, "gpu", "TPU v5"), "edges[1].gpu", f"no gpu named 'TPU v5' {GPUS}"),
    Bad("unknown GPU measured on", _put("models", 0, "configs", 0, "measured_on", "B200"),
        "models[0].configs[0].measured_on", "no gpu named 'B200'"),
    Bad("unknown cloud GPU", _put("cloud", "gpu", "B200"), "cloud.gpu", "no gpu named 'B200'"),
    Bad("unknown device GPU", _put("devices", 2, "gpu", "Orin Nano"), "devices[2].gpu", "no gpu named 'Orin Nano'"),
    Bad("NaN distance", _literal("287.8", "NaN"), "users[0].distance_m[0]", "must be a finite number, got nan"),
    Bad("Infinity shadowing", _literal("-4.99", "Infinity"), "users[0].shadowing_db[0]",
        "must be a finite number, got inf"),
    Bad("distance too short", _put("users", 0, "distance_m", [287.8]), "users[0].distance_m",
        "must have one entry per slot (2), got 1"),
    Bad("shadowing too long", _put("users", 1, "shadowing_db", [1.0, 2.0, 3.0]), "users[1].shadowing_db",
        "must have one entry per slot (2), got 3"),
    Bad("requests too short", _put("users", 2, "requests", [None]), "users[2].requests",
        "must have one entry per slot (2), got 1"),
    Bad("distance below 1 m", _put("users", 0, "distance_m", [0.5, 10.0]), "users[0].distance_m[0]",
        "must be >= 1, got 0.5"),
    Bad("duplicate user", _put("users", 1, "name", "u0"), "users[1].name", "duplicate user name 'u0' (also users[0])"),
    Bad("duplicate model", _put("models", 1, "name", "open-sora-1.2"), "models[1].name",
        "duplicate model name 'open-sora-1.2' (also models[0])"),
    Bad("duplicate edge", _put("edges", 1, "name", "edge0"), "edges[1].name", "duplicate edge name 'edge0'"),
    Bad("duplicate device", _put("devices", 2, "name", "phone"), "devices[2].name", "duplicate device name 'phone'"),
    Bad("duplicate GPU", _put("gpus", 1, "name", "H100"), "gpus[1].name", "duplicate gpu name 'H100'"),
    Bad("duplicate configuration", _put("models", 0, "configs", 1, "name", FIRST_CONFIG), "models[0].configs[1].name",
        f"duplicate configuration name {FIRST_CONFIG!r}"),
    Bad("zero generation time", _put("models", 0, "configs", 0, "generation_seconds", 0),
        "models[0].configs[0].generation_seconds", "must be >= 1e-06, got 0"),
    Bad("negative refusal penalty", _put("weights", "refusal_penalty", -5), "weights.refusal_penalty",
        "must be >= 0, got -5"),
    Bad("request a number", _put("users", 0, "requests", [3, None]), "users[0].requests[0]",
        "must be an object or null, got integer 3"),
    Bad("request a string", _put("users", 0, "requests", ["video", None]), "users[0].requests[0]",
        "must be an object or null, got string \"video\""),
    Bad("unknown top-level key", _put("bandwidth", 5), "bandwidth", "unknown key (allowed here: cloud, description"),
    Bad("unknown user key", _put("users", 0, "speed", 3), "users[0].speed", "unknown key"),
    Bad("zero slots", _put("slots", 0), "slots", "must be >= 1, got 0"),
    Bad("cloud enabled a string", _put("cloud", "enabled", "yes"), "cloud.enabled",
        'must be true or false, got string "yes"'),
    Bad("zero transmit power", _put("devices", 0, "tx_power_watts", 0), "devices[0].tx_power_watts",
        "must be >= 1e-06, got 0"),
    Bad("fractional steps", _put("models", 0, "configs", 0, "steps", 2.5), "models[0].configs[0].steps",
        "must be an integer, got number 2.5"),
    Bad("model without configurations", _put("models", 0, "configs", []), "models[0].configs",
        "must have at least 1 item(s), got 0"),
    Bad("missing weights", _edit(lambda d: d.pop("weights")), "weights", "missing required key"),
    Bad("noise above the range", _put("radio", "noise_dbm_per_hz", -50), "radio.noise_dbm_per_hz",
        "must be <= -100, got -50"),
]
#: Files once accepted or refused only with jsonschema's generic anyOf sentence (regressions).
ONCE_UNCLEAR = [
    Bad("request with an unknown key", _put("users", 0, "requests", [{"duration_seconds": 2.0, "fps": 24}, None]),
        "users[0].requests[0].fps", "unknown key"),
    Bad("request of zero seconds", _put("users", 0, "requests", [{"duration_seconds": 0}, None]),
        "users[0].requests[0].duration_seconds", "must be >= 1e-06"),
    Bad("device with a GPU, local models and 0 GB", _put("devices", 1, "gpu_memory_gb", 0.0),
        "devices[1].local_models", "runs no model"),
    Bad("a request longer than every configuration", _put("users", 0, "requests", [{"duration_seconds": 60.0}, None]),
        "users[0].requests[0].duration_seconds", "no configuration makes more than"),
]
ALL_BAD = [pytest.param(b, id=b.id) for b in BAD + ONCE_UNCLEAR]


def test_the_table_is_large_and_its_rows_distinct(tmp_path):
    assert len(BAD) >= 15
    contents = [b.content() for b in BAD + ONCE_UNCLEAR]
    assert len(set(contents)) == len(contents) and json.dumps(BASE, indent=1) not in contents
    f = tmp_path / "base.json"
    f.write_text(json.dumps(BASE, indent=1))
    assert edgeopt.load(f).name == BASE["name"]


@pytest.mark.parametrize("bad", ALL_BAD)
def test_a_malformed_file_exits_2_naming_file_and_path(tmp_path, capsys, bad: Bad):
    f = tmp_path / (bad.id.replace(" ", "_").replace(":", "") + ".json")
    f.write_text(bad.content())
    with pytest.raises(edgeopt.InstanceError) as info:
        edgeopt.load(f)
    message = str(info.value)
    assert str(f) in message and f"{bad.path}: " in message and bad.fragment in message, message
    assert "is not valid under any of the given schemas" not in message or bad.fragment == "is not valid"
    out = tmp_path / "solution.json"
    for argv in (["show", f], ["solve", f, "--solver", "greedy-offload", "-o", out]):
        code, stdout, err = _run(capsys, *argv)
        assert code == 2 and stdout == ""
        assert str(f) in err and f"{bad.path}: " in err and bad.fragment in err
        assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == [f.name]
