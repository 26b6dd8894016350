"""The equal-share baseline of the offloading family: its choices against a plain-Python re-implementation of
its rule (read from the instance's own arrays, not from the solver), its handling of a binding GPU memory,
its independence of the order of the catalogue, and the three share allocations."""
from __future__ import annotations

import copy
import math
from collections import Counter

import pytest

import edgeopt
from edgeopt.families.offloading.instance import PLACES
from edgeopt.io import instance_from_data

SOLVER = "equal-share"
FAMILY = edgeopt.family("offloading")


def _generated(seed: int, **kw):
    params = {"users": 6, "edges": 1, "slots": 1, "request_probability": 1.0, "seed": seed}
    params.update(kw)
    return edgeopt.generate("offloading", name=f"eq-{seed}", **params)


def _edited(inst, change, name: str):
    data = copy.deepcopy(inst.data)
    change(data)
    return instance_from_data(data, name)


def _memory(gb: float):
    def change(data):
        for edge in data["edges"]:
            edge["gpu_memory_gb"] = gb
    return change


def _reversed(data):
    data["models"].reverse()
    for model in data["models"]:
        model["configs"].reverse()


def _pick(offers: list, refusal: float):
    """(model, config, place) of the highest estimate, among equal estimates the smallest (model, config,
    place); None when no estimate beats refusal."""
    best = min(offers, key=lambda x: (-x[0], x[1], x[2], x[3]), default=None)
    return None if best is None or not best[0] > refusal else best[1:]


# -- the oracle: the rule, written out again from the option table and the instance's document ------------
def oracle(inst, crowd: bool = True) -> tuple[list[dict], bool]:
    """Per slot {user name: (model, config, place) or None} by the equal-share rule, and whether memory made
    any user choose again. ``crowd=False`` prices every option as if its user were alone in its cell (to show
    that the rule's n_e matters on the instances used)."""
    names = [(m["name"], c["name"]) for m in inst.data["models"] for c in m["configs"]]  # the file's order = k
    memory = {m["name"]: m["gpu_memory_gb"] for m in inst.data["models"]}
    capacity = [e["gpu_memory_gb"] * (1 + 1e-9) for e in inst.data["edges"]]
    out, bound = [], False
    for t in range(inst.slots):
        opts = inst.options(t)
        users = [int(u) for u in opts.users]
        cell = {u: int(inst.user_edge[u]) for u in users}
        requesters = Counter(cell.values())
        offers: dict[int, list] = {u: [] for u in users}
        for o in range(opts.num_options):
            cost = float(opts.cost[o, 0]) + float(opts.cost[o, 1]) + float(opts.cost[o, 2])
            value = float(opts.value[o])
            if not math.isfinite(value - cost):
                continue  # never taken
            u = int(opts.user[o])
            n = requesters[cell[u]] if crowd else 1
            model, config = names[int(opts.config[o])]
            offers[u].append((value - n * cost, model, config, int(opts.place[o])))

        choice = {u: _pick(offers[u], opts.refusal_value) for u in users}
        for e in range(inst.num_edges):
            count = Counter(c[0] for u, c in choice.items() if c and c[2] == 1 and cell[u] == e)
            kept, used = set(), 0.0
            for model in sorted(count, key=lambda m: (-count[m], m)):
                if used + memory[model] <= capacity[e]:
                    kept.add(model)
                    used += memory[model]
            for u, c in choice.items():
                if c and c[2] == 1 and cell[u] == e and c[0] not in kept:
                    bound = True
                    choice[u] = _pick([x for x in offers[u] if x[3] != 1 or x[1] in kept], opts.refusal_value)
        out.append({inst.user_names[u]: None if c is None else (c[0], c[1], PLACES[c[2]])
                    for u, c in choice.items()})
    return out, bound


def decisions(inst, result) -> list[dict]:
    """Per slot {user name: (model, config, place) or None} of a solver's plan, by name."""
    slots = FAMILY.solution_to_data(inst, result.solution)["slots"]
    return [{u: None if c is None else (c["model"], c["config"], c["place"]) for u, c in s["choices"].items()}
            for s in slots]


def _solve(inst, **options):
    r = edgeopt.solve(inst, SOLVER, **options)
    assert r.status == edgeopt.Status.FEASIBLE and r.evaluation.feasible, (inst.name, r.message)
    assert not r.evaluation.violations and r.bound is None
    return r


#: Small generated instances on which the memory does not bind (checked by the oracle): one to three cells,
#: with and without a cloud, one or two slots, every configuration of the models in some, refusals in one.
ROOMY = [
    _generated(0), _generated(1, cloud=False), _generated(2, users=10, edges=2),
    _generated(3, users=9, edges=3, slots=2, request_probability=0.8), _generated(4, max_configs=None),
    _generated(5, users=8, edges=2, cloud=False, models=["open-sora-1.2", "cogvideox-2b"]),
    _generated(6, users=12, edges=2, cell_radius_m=3000.0, delay_per_second=0.5),
    _generated(7, users=5, cloud=False, delay_per_second=1.0, refusal_penalty=0.0),
    _generated(8, users=7, slots=2, request_probability=0.6, models=2),
]


@pytest.mark.parametrize("inst", ROOMY, ids=lambda i: i.name)
def test_choices_agree_with_the_rule_written_out_again(inst):
    expected, bound = oracle(inst)
    assert not bound, "this case is meant for a memory that does not bind"
    assert decisions(inst, _solve(inst)) == expected


def test_the_roomy_instances_test_something():
    """Every place and refusal occur, and the crowd (n_e) changes some user's choice: the oracle is not
    agreeing with a rule that ignores the crowd."""
    seen, crowd_matters = Counter(), 0
    for inst in ROOMY:
        crowded, _ = oracle(inst)
        alone, _ = oracle(inst, crowd=False)
        crowd_matters += crowded != alone
        seen.update(c[2] if c else "refused" for slot in crowded for c in slot.values())
    assert crowd_matters >= 2
    assert set(seen) == {"local", "edge", "cloud", "refused"}, seen


# -- a binding GPU memory --------------------------------------------------------------------------------
#: With 28 GB on the one edge, open-sora-1.2 (24 GB loaded, 27 GB peak) and animatediff-lcm (6 GB) each fit,
#: not both. (seed, the model more users of the edge choose, how many, the other model, how many).
BINDING = [(3, "open-sora-1.2", 5, "animatediff-lcm", 3), (1, "animatediff-lcm", 5, "open-sora-1.2", 3)]


def _small_models(data):
    for model in data["models"]:
        model["gpu_memory_gb"] = 1.0


def _first_choices_at_the_edge(tight) -> Counter:
    """The models users pick at the edge before memory is looked at (by the oracle): the same instance with
    every model 1 GB (the option table is the same: only the models' memory changed, each already fitting the
    edge), where memory does not bind."""
    spare = _edited(tight, _small_models, "<1 GB models>")
    a, b = tight.options(0), spare.options(0)
    assert (a.config == b.config).all() and (a.place == b.place).all() and (a.value == b.value).all()
    choices, bound = oracle(spare)
    assert not bound
    return Counter(c[0] for c in choices[0].values() if c and c[2] == "edge")


def _loaded(inst, result) -> list[str]:
    return FAMILY.solution_to_data(inst, result.solution)["slots"][0]["loaded"]["edge0"]


@pytest.mark.parametrize("seed,winner,many,loser,few", BINDING)
def test_a_binding_memory_keeps_the_model_more_users_chose(seed, winner, many, loser, few):
    tight = _edited(_generated(seed, users=8, cloud=False, models=4), _memory(28.0), "<28 GB>")
    assert _first_choices_at_the_edge(tight) == {winner: many, loser: few}  # two models wanted, one by more
    r = _solve(tight)
    assert _loaded(tight, r) == [winner]
    got = decisions(tight, r)
    assert all(c[0] == winner for c in got[0].values() if c and c[2] == "edge")
    expected, bound = oracle(tight)
    assert bound and got == expected
    assert not any(c and c[0] == loser and c[2] == "edge" for c in got[0].values())  # its users chose again


def test_a_tie_in_users_keeps_the_model_first_by_name_in_either_catalogue_order():
    tight = _edited(_generated(0, users=8, cloud=False, models=4), _memory(28.0), "<28 GB>")
    assert _first_choices_at_the_edge(tight) == {"animatediff-lcm": 4, "open-sora-1.2": 4}
    for inst in (tight, _edited(tight, _reversed, "<28 GB, reversed>")):
        r = _solve(inst)
        assert _loaded(inst, r) == ["animatediff-lcm"]
        assert decisions(inst, r) == oracle(inst)[0]


def test_the_bundled_tight_instance_fits_and_follows_the_rule(instances_dir):
    inst = edgeopt.load(instances_dir / "offloading" / "offload-small-tight.json")
    r = _solve(inst)
    assert decisions(inst, r) == oracle(inst)[0]


# -- the order of the catalogue changes nothing ---------------------------------------------------------
def _favourite(inst) -> tuple[str, str]:
    """The (model, configuration) the rule gives most users of the instance (by the oracle)."""
    return Counter(c[:2] for slot in oracle(inst)[0] for c in slot.values() if c).most_common(1)[0][0]


def _twins(inst, first: bool):
    """``inst`` with exact ties: its favourite model copied under a name before (``first``) or after every
    other, with its configurations and its place on the devices, and its favourite configuration copied
    within the model under a name before every other ("0-<name>")."""
    favourite, config = _favourite(inst)

    def change(data):
        model = next(m for m in data["models"] if m["name"] == favourite)
        twin = copy.deepcopy(model)
        twin["name"] = ("0-twin-" if first else "zz-twin-") + favourite
        data["models"].append(twin)
        extra = copy.deepcopy(next(c for c in model["configs"] if c["name"] == config))
        extra["name"] = "0-" + config
        model["configs"].append(extra)
        for device in data["devices"]:
            if favourite in device["local_models"]:
                device["local_models"].append(twin["name"])
    return _edited(inst, change, f"<{inst.name} with twins {'first' if first else 'last'}>")


ORDER_CASES = ROOMY[:6] + [
    _twins(_generated(11, users=8, edges=2), first=True),
    _twins(_generated(12, users=8, edges=2, cloud=False), first=False),
    _edited(_generated(0, users=8, cloud=False, models=4), _memory(28.0), "<tight>"),
]


@pytest.mark.parametrize("inst", ORDER_CASES, ids=lambda i: i.name)
def test_the_catalogue_in_reverse_order_gives_the_same_plan(inst):
    flipped = _edited(inst, _reversed, inst.name + " reversed")
    assert flipped.model_names == inst.model_names[::-1] and flipped.hash != inst.hash
    a, b = _solve(inst), _solve(flipped)
    assert decisions(inst, a) == decisions(flipped, b) == oracle(inst)[0]
    assert a.objective == b.objective


@pytest.mark.parametrize("first", [True, False])
def test_exact_ties_go_by_name(first):
    """With a model's twin (every option tied exactly) the model first by name wins, whichever the file lists
    first; of two configurations tied exactly, the one first by name."""
    base = _generated(11, users=8, edges=2)
    original, config = _favourite(base)
    twin = ("0-twin-" if first else "zz-twin-") + original
    inst = _twins(base, first)
    got = [c for slot in decisions(inst, _solve(inst)) for c in slot.values() if c]
    assert got == [c for slot in oracle(inst)[0] for c in slot.values() if c]
    used = Counter(c[:2] for c in got)
    models = Counter(c[0] for c in got)
    if first:  # the twin wins over the original and over its "0-" configuration (the model name decides)
        assert models[twin] > 0 and models[original] == 0, used
        assert used[(twin, config)] > 0
    else:  # the original wins, with its "0-" copy of the configuration
        assert models[original] > 0 and models[twin] == 0, used
        assert used[(original, "0-" + config)] > 0 and used[(original, config)] == 0, used


# -- the share allocations and determinism ----------------------------------------------------------------
@pytest.mark.parametrize("inst", ROOMY[:4] + ORDER_CASES[-1:], ids=lambda i: i.name)
def test_closed_beats_slsqp_beats_equal_with_the_same_choices(inst):
    value, choices = {}, {}
    for allocation in ("closed", "slsqp", "equal"):
        r = _solve(inst, allocation=allocation)
        assert r.extra["allocation"] == allocation
        value[allocation], choices[allocation] = r.objective, decisions(inst, r)
    assert choices["closed"] == choices["slsqp"] == choices["equal"]
    tol = 1e-9 * max(1.0, abs(value["closed"]))
    assert value["closed"] >= value["slsqp"] - tol and value["slsqp"] >= value["equal"] - tol, value


def test_deterministic_whatever_the_seed():
    inst = ROOMY[3]
    runs = [edgeopt.solve(inst, SOLVER, seed=s) for s in (None, 0, 7)]
    assert len({r.objective for r in runs}) == 1
    assert all(decisions(inst, r) == decisions(inst, runs[0]) for r in runs)


def test_registered_with_its_description():
    entry = next(s for s in edgeopt.solvers() if s.family == "offloading" and s.name == SOLVER)
    assert entry.available and not entry.exact and not entry.gives_bound
    assert "equal share" in entry.description
    with pytest.raises(ValueError, match="option allocation"):
        edgeopt.solve(ROOMY[0], SOLVER, allocation="cvxpy")
