"""Property-based tests of the offloading family (issue 19, item 14), on the budgets of tests/property_budget.py.

1. The generator: over drawn seeds and parameter sets (users, edges, slots, models by count or by name,
   max_configs, cloud, request probability, weights, bands, cell radius, edge GPUs, device mix, shuffle) it
   only makes instances its loader accepts, as the documented model says (sizes, requests, the documented
   limits), and greedy-offload and the exact offload-oa solve them to plans the evaluator confirms, the
   heuristic never above the proven optimum, which is the independent brute force's (tests/oracles.py) when
   the instance is small enough for it.
2. Hostile mutations of valid offloading files through ``show``, ``solve -o`` and ``check``: an exit code of
   the contract (0, 1, 2, 130), no traceback, no output file after exit 2, and ``check`` accepting what
   ``solve`` wrote.
3. Hostile offloading solution files through ``check``: exit 0, 1 or 2, no traceback, and exit 0 exactly
   when the evaluator finds the plan read from the file feasible.

Each defect these properties find gets a plain regression test next to its property.

    HYPOTHESIS_PROFILE=nightly python -m pytest -q -p no:cacheprovider tests/test_offloading_properties.py
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import edgeopt
import edgeopt.mec
from edgeopt import catalog
from edgeopt.document import InstanceError
from edgeopt.families.offloading.generate import RANGES
from edgeopt.families.offloading.solvers import enumeration
from edgeopt.io import instance_from_data, solution_document

from property_budget import budget
from hostile import dumps, mutated, run_cli, stray_temporaries
from oracles import offloading_brute_force



@contextlib.contextmanager
def folder():
    """A fresh temporary folder per example."""
    with tempfile.TemporaryDirectory(prefix="edgeopt-offload-prop-") as d:
        yield Path(d)


CATALOG = catalog.text_to_video()
MODEL_NAMES = [m["name"] for m in CATALOG["models"]]
DEVICES = [d["name"] for d in CATALOG["devices"]]
#: Relative tolerance of "never better than the optimum" (edgeopt's own objective tolerance).
RTOL = 1e-6
#: The brute force prices every combination in Python: only slots of at most this many.
BRUTE_FORCE_COMBINATIONS = 3000


# == 1. the generator ==========================================================================================
def _mix(draw) -> dict | None:
    if draw(st.booleans()):
        return None
    mix = draw(st.dictionaries(st.sampled_from(DEVICES), st.sampled_from([0.0, 1e-300, 0.2, 1.0, 1e300]), min_size=1))
    if not sum(mix.values()) > 0:
        mix[next(iter(mix))] = 1.0
    return mix


def _in(name: str, ordinary: list, ranges: dict = RANGES) -> st.SearchStrategy:
    """A value of a numeric parameter: an ordinary one, an end of its documented range (``ranges``, default the
    cell generators'), or any in between."""
    low, high = ranges[name]
    return st.one_of(st.sampled_from(ordinary + [low, high]), st.floats(low, high))


@st.composite
def generator_parameters(draw) -> dict:
    """Keyword arguments of ``edgeopt.generate("offloading", ...)`` within its documented ranges (the ends
    included), small enough for the exact method."""
    return dict(
        users=draw(st.integers(1, 4)), edges=draw(st.integers(1, 2)), slots=draw(st.integers(1, 2)),
        models=draw(st.one_of(st.integers(1, len(MODEL_NAMES)),
                              st.lists(st.sampled_from(MODEL_NAMES), min_size=1, max_size=len(MODEL_NAMES),
                                       unique=True))),
        max_configs=draw(st.sampled_from([None, 1, 2, 3])),
        uplink_mhz=draw(_in("uplink_mhz", [0.2, 10.0, 100.0])),
        downlink_mhz=draw(_in("downlink_mhz", [0.5, 20.0, 200.0])),
        cell_radius_m=draw(_in("cell_radius_m", [40.0, 500.0, 20_000.0])),
        request_probability=draw(st.sampled_from([0.0, 0.3, 0.8, 1.0])), cloud=draw(st.booleans()),
        delay_per_second=draw(_in("delay_per_second", [0.05, 1.0])),
        energy_per_joule=draw(_in("energy_per_joule", [0.001, 1.0])),
        refusal_penalty=draw(_in("refusal_penalty", [1.0, 100.0])),
        cloud_price=draw(_in("cloud_price", [5.0, 1000.0])),
        edge_gpus=draw(st.one_of(st.none(), st.lists(st.sampled_from(sorted(edgeopt.mec.GPU_MEMORY_GB)), min_size=1,
                                                     max_size=3, unique=True))),
        device_mix=_mix(draw), shuffle=draw(st.booleans()), seed=draw(st.integers(0, 2**31 - 1)),
    )


def _verified(result, inst) -> None:
    """A plan the evaluator confirms, with the objective the result reports."""
    assert result.status != edgeopt.Status.ERROR, result.message
    assert result.solution is not None, result.message
    ev = edgeopt.evaluate(inst, result.solution)
    assert ev.feasible, (result.solver, ev.violations[:3])
    assert math.isclose(ev.objective, result.objective, rel_tol=1e-9, abs_tol=1e-9), (ev.objective, result.objective)


@budget(0.5)
@given(params=generator_parameters())
def test_the_generator_makes_what_the_loader_accepts_and_the_solvers_agree(params):
    inst = edgeopt.generate("offloading", **params)  # the generator loads what it makes: a refusal raises here
    # what the loader accepts is the document it wrote, read anew
    again = edgeopt.loads(json.dumps(inst.data), "<again>")
    assert again.hash == inst.hash
    # ... and the documented model: the sizes asked for, each model's configurations, the requests
    names = params["models"] if isinstance(params["models"], list) else None
    assert (inst.num_users, inst.num_edges, inst.slots) == (params["users"], params["edges"], params["slots"])
    assert inst.num_models == (len(names) if names else params["models"])
    if names:
        assert sorted(inst.model_names) == sorted(names)
    per_model = [list(inst.config_model).count(m) for m in range(inst.num_models)]
    assert params["max_configs"] is None or max(per_model) <= params["max_configs"]
    assert inst.cloud_enabled == params["cloud"]
    if params["request_probability"] in (0.0, 1.0):
        assert inst.requested.all() == (params["request_probability"] == 1.0) and (
            inst.requested.any() == (params["request_probability"] == 1.0))
    asked = inst.requested_seconds[inst.requested]
    assert (asked <= inst.config_duration_seconds.max() + 1e-9).all()  # no request only a refusal can answer
    rows = int(inst.requested.sum()) * inst.num_configs * 3
    assert rows <= edgeopt.mec.MAX_OPTION_ROWS
    assert inst.num_edges * inst.num_models * inst.slots <= edgeopt.mec.MAX_EDGE_MODEL_SLOTS

    greedy = edgeopt.solve(inst, "greedy-offload", seed=0, time_limit=5)
    exact = edgeopt.solve(inst, "offload-oa", time_limit=30)
    _verified(greedy, inst)
    _verified(exact, inst)
    tol = RTOL * max(1.0, abs(exact.objective))
    assert exact.bound is not None and exact.bound >= exact.objective - tol, (exact.bound, exact.objective)
    assert greedy.objective <= exact.bound + tol, (greedy.objective, exact.bound)
    # Proven, or not proven (HiGHS's tolerances against costs of 1e19 beside values of 1e2) with a valid bound
    assert exact.status in (edgeopt.Status.OPTIMAL, edgeopt.Status.FEASIBLE), exact.raw_status
    if exact.status == edgeopt.Status.OPTIMAL:
        assert greedy.objective <= exact.objective + tol, (greedy.objective, exact.objective)
    optimum = _reference_optimum(inst)
    if optimum is not None:
        assert exact.objective <= optimum + tol and exact.bound >= optimum - tol, (exact.objective, exact.bound,
                                                                                   optimum)
        if exact.status == edgeopt.Status.OPTIMAL:
            assert math.isclose(exact.objective, optimum, rel_tol=RTOL, abs_tol=RTOL), (exact.objective, optimum)


def _reference_optimum(inst) -> float | None:
    """The optimum by a second method when the instance is small: the independent brute force, which recomputes
    the radio as log2(1 + SNR) (imprecise, 1e-16 / SNR relative, where the SNR is below 1e-6: a 10^6 MHz band
    20 km away), else offload-enumerate; None for a larger instance."""
    if any(enumeration.combinations(inst, t) > BRUTE_FORCE_COMBINATIONS for t in range(inst.slots)):
        return None
    asked = inst.requested
    efficiency = min(inst.uplink_efficiency[asked].min(initial=1.0), inst.downlink_efficiency[asked].min(initial=1.0))
    if efficiency >= 1e-6 / math.log(2.0):
        return offloading_brute_force(inst)
    result = edgeopt.solve(inst, "offload-enumerate", time_limit=30)
    assert result.status == edgeopt.Status.OPTIMAL, result.raw_status
    return result.objective


#: Parameters out of the generator's range, each with the parameter its refusal must name.
OUT_OF_RANGE = [
    ("uplink_mhz", [1e7, 0.0, -1.0, 1e-13, math.inf, math.nan, "10", True]),
    ("downlink_mhz", [1e7, 0.0, math.nan]),
    ("cell_radius_m", [34.9, 1.0, 0.0, 1.5e5, math.inf, math.nan]),
    ("request_probability", [-0.1, 1.5, math.nan, None]),
    ("delay_per_second", [2e6, -1.0, math.inf]),
    ("energy_per_joule", [2e6, -1e-9]),
    ("refusal_penalty", [2e9, -5.0, math.nan]),
    ("cloud_price", [2e9, -1.0]),
    ("max_configs", [0, -1, 2.5, "3", True]),
    ("seed", [-1, 1.5, "0"]),
    ("models", [[], ["cogvideox-2b", "cogvideox-2b"], 0, 99, ["no-such-model"]]),
    ("device_mix", [{"phone": 1e308, "laptop": 1e308}, {"phone": -1.0}, {"phone": 0.0}, {"tablet": 1.0},
                    {"phone": math.nan}]),
    ("edge_gpus", [[], ["B200"], "B200"]),
]


@budget(0.5)
@given(data=st.data())
def test_parameters_out_of_range_are_refused_by_name_before_any_document(data):
    """The generator refuses what its loader would (or numpy would choke on) with a ValueError naming the
    parameter, never by refusing the document it made (an InstanceError of "<generated>")."""
    params = data.draw(generator_parameters(), label="valid parameters")
    name, values = data.draw(st.sampled_from(OUT_OF_RANGE), label="parameter")
    params[name] = data.draw(st.sampled_from(values), label="value")
    with pytest.raises(ValueError) as caught:
        edgeopt.generate("offloading", **params)
    assert not isinstance(caught.value, InstanceError), str(caught.value)
    assert name in str(caught.value) or "model" in str(caught.value) or "GPU" in str(caught.value), str(caught.value)


def test_offload_oa_proves_no_wrong_optimum_when_a_resource_costs_almost_nothing():
    """Found by the generator property: with a 100 MHz uplink (a prompt's upload costs 2e-7), offload-oa's
    MILP had theta_uplink <= 1e-6 and cut rows of 1e-7; HiGHS's presolve reduced it to "optimal 0" (every z
    forced to 0) and offload-oa called greedy's 142.84 optimal, 1.2 below the optimum (brute force, enumerate
    and offload-miqp: 144.04). Each theta is now scaled by its resource's largest square."""
    inst = edgeopt.generate("offloading", users=2, edges=1, slots=2, models=2, max_configs=None, uplink_mhz=100.0,
                            downlink_mhz=0.5, cell_radius_m=40.0, request_probability=0.3, cloud=False,
                            energy_per_joule=0.0, refusal_penalty=0.0, cloud_price=0.0, seed=0)
    optimum = offloading_brute_force(inst)
    for solver in ("offload-oa", "offload-enumerate"):
        result = edgeopt.solve(inst, solver, time_limit=30)
        assert result.status == edgeopt.Status.OPTIMAL, (solver, result.raw_status)
        assert math.isclose(result.objective, optimum, rel_tol=1e-9), (solver, result.objective, optimum)


def test_offload_oa_proves_no_wrong_optimum_when_costs_are_huge():
    """Found by the generator property: a refusal of 4.2e8 and radio costs up to 6e9 (1e6 per second of delay,
    37 km cells) gave offload-oa's MILP costs of 4e8 and rows of 1e9; HiGHS called a plan optimal that is 8.8e6
    below one it allowed, and offload-oa returned -1,318,946,050 as "optimal", below greedy-offload's
    -1,310,156,905 (the optimum: brute force, enumerate, offload-miqp). Each theta is now in units of its
    largest value. (Scaling the objective as well lost differences of 2 beside a refusal of 2.2e7: the second
    instance, which the unscaled MILP proved right.)"""
    huge = edgeopt.generate("offloading", users=2, edges=2, slots=2, models=4, max_configs=1, uplink_mhz=0.2,
                            downlink_mhz=0.5, cell_radius_m=37323.0, cloud=False, delay_per_second=1e6,
                            refusal_penalty=418765188.0, seed=2)
    refusal = edgeopt.generate("offloading", users=2, edges=1, slots=2, models=2, max_configs=2, uplink_mhz=0.2,
                               downlink_mhz=0.5, cell_radius_m=40.0, request_probability=0.3, cloud=False,
                               refusal_penalty=22098653.0, seed=0)
    for inst in (huge, refusal):
        optimum = offloading_brute_force(inst)
        result = edgeopt.solve(inst, "offload-oa", time_limit=30)
        assert result.status == edgeopt.Status.OPTIMAL, result.raw_status
        assert math.isclose(result.objective, optimum, rel_tol=1e-9), (result.objective, optimum)
        assert edgeopt.solve(inst, "greedy-offload").objective <= result.objective + 1e-9 * abs(optimum)


@pytest.mark.parametrize(("params", "message"), [
    (dict(cell_radius_m=20.0), "cell_radius_m must be a number from 35 to 100000, got 20.0"),  # numpy: high - low < 0
    (dict(cell_radius_m=2e5), "cell_radius_m must be a number from 35 to 100000"),  # <generated>: users[0].distance_m
    (dict(uplink_mhz=1e7), "uplink_mhz must be a number from 1e-12 to 1e+06"),  # <generated>: edges[0].uplink_hz
    (dict(delay_per_second=2e6), "delay_per_second must be a number from 0 to 1e+06"),
    (dict(refusal_penalty=2e9), "refusal_penalty must be a number from 0 to 1e+09"),
    (dict(cloud_price=2e9), "cloud_price must be a number from 0 to 1e+09"),  # <generated>: cloud.price_per_request
    (dict(cell_radius_m=math.nan), "cell_radius_m must be a number"),  # OverflowError in numpy
    (dict(device_mix={"phone": 1e308, "laptop": 1e308}), "device_mix: shares must have a finite sum"),  # numpy
    (dict(models=[]), "models must name one or more catalog models, each once"),  # max() arg is an empty sequence
    (dict(max_configs=2.5), "max_configs must be a whole number >= 1"),  # TypeError: slice indices
])
def test_generator_parameters_beyond_what_the_loader_accepts_are_refused_by_name(params, message):
    """Found by test_parameters_out_of_range_are_refused_by_name_before_any_document: each of these made a
    document the loader refused (naming a field of the generated file, not the parameter), or failed inside
    numpy with a message naming nothing."""
    with pytest.raises(ValueError) as caught:
        edgeopt.generate("offloading", users=2, edges=1, **params)
    assert not isinstance(caught.value, InstanceError) and message in str(caught.value), str(caught.value)


# == 2. hostile offloading instance files =======================================================================
def _bases() -> list[dict]:
    return [edgeopt.generate("offloading", users=3, edges=2, slots=2, models=2, seed=0).data,
            edgeopt.generate("offloading", users=2, edges=1, slots=1, models=["open-sora-1.2", "cogvideox-2b"],
                             cloud=False, seed=1).data]


BASES = _bases()
FAST = ["greedy-offload", "all-cloud", "equal-share", "offload-oa"]


def _solution_text(base: dict) -> str:
    inst = instance_from_data(copy.deepcopy(base))
    return json.dumps(solution_document(inst, edgeopt.solve(inst, "greedy-offload", seed=0, time_limit=5)))


BASE_SOLUTIONS = [_solution_text(base) for base in BASES]


@budget(0.5)
@given(data=st.data())
def test_hostile_offloading_files(data):
    k = data.draw(st.integers(0, len(BASES) - 1), label="base")
    doc = data.draw(mutated(BASES[k]), label="document")
    solver = data.draw(st.sampled_from(FAST), label="solver")
    with folder() as tmp:
        path = tmp / "inst.json"
        path.write_text(dumps(doc), encoding="utf-8")
        show = run_cli(["show", path])
        assert show.code in (0, 2), show
        out = tmp / "out" / "plan.json"
        run = run_cli(["solve", path, "--solver", solver, "--time-limit", "5", "--seed", "0", "-o", out])
        assert not stray_temporaries(out.parent, out.name), run
        if show.code == 2:
            assert run.code == 2, f"show refused the file but solve did not\nshow: {show}\nsolve: {run}"
        if run.code in (1, 2):
            assert not out.exists(), f"exit {run.code} left an output file\n{run}"
        elif out.exists():
            check = run_cli(["check", path, out])
            assert check.code == 0, f"check refuses what solve wrote\nsolve: {run}\ncheck: {check}"
        solution = tmp / "base-solution.json"
        solution.write_text(BASE_SOLUTIONS[k])
        check = run_cli(["check", path, solution])
        assert check.code in (0, 1, 2), check
        if show.code == 2:
            assert check.code == 2, check


# == 3. hostile offloading solution files =======================================================================
def _solution_bases() -> list[tuple[dict, dict]]:
    inst = instance_from_data(copy.deepcopy(BASES[0]))
    return [(BASES[0], solution_document(inst, edgeopt.solve(inst, solver, seed=0, time_limit=5)))
            for solver in ("greedy-offload", "offload-oa", "all-cloud")]


SOLUTION_BASES = _solution_bases()


@budget(0.5)
@given(data=st.data())
def test_hostile_offloading_solution_files(data):
    inst_doc, sol_doc = data.draw(st.sampled_from(SOLUTION_BASES), label="base")
    doc = data.draw(mutated(sol_doc), label="solution")
    with folder() as tmp:
        path = tmp / "inst.json"
        path.write_text(json.dumps(inst_doc))
        sol = tmp / "sol.json"
        sol.write_text(dumps(doc))
        check = run_cli(["check", path, sol])
        assert check.code in (0, 1, 2), check
        if check.code in (0, 1):  # the file was read: its verdict is the evaluator's
            inst = edgeopt.load(path)
            ev = edgeopt.evaluate(inst, edgeopt.load_solution(sol, inst))
            assert (check.code == 0) == ev.feasible, (check, ev.violations[:3])
        else:
            with pytest.raises((InstanceError, ValueError)):
                edgeopt.load_solution(sol, edgeopt.load(path))
