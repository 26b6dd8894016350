"""Property-based tests of the serving generator (issue 19: "the generator only produces instances its loader
accepts"), on the budgets of tests/property_budget.py.

1. Over drawn seeds and parameter sets (sizes, arrival processes, trace windows, the day's shape, slot lengths,
   weights, bands, radius, GPUs, device mix) within the documented ranges (``RANGES`` of the serving and the
   offloading generators), the generator makes an instance its loader reads back alike, of the sizes asked for,
   and the online baseline plans it feasibly by the evaluator.
2. A parameter out of its range is refused by a ValueError naming it, before any document is made: before,
   ``slot_seconds=10**6``, ``loading_per_second=-1``, ``uplink_mhz=1e7`` or ``refusal_penalty=2e9`` were refused
   as the generated document ("<generated>: slot_seconds: must be <= 86400"), ``request_rate="0.3"`` and
   ``max_configs=2.5`` raised TypeError, ``cell_radius_m=1`` failed in numpy ("high - low < 0"), and
   ``start_hour=inf``, ``trace_start=-5`` or ``trace_start=1.5`` were accepted.

    HYPOTHESIS_PROFILE=nightly python -m pytest -q -p no:cacheprovider tests/test_serving_properties.py
"""
from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import edgeopt
import edgeopt.mec
from edgeopt.document import InstanceError
from edgeopt.families.serving.generate import ARRIVALS, MAX_TRACE_START, RANGES

from property_budget import budget
from test_offloading_properties import CATALOG, _in, _mix

MODEL_NAMES = [m["name"] for m in CATALOG["models"]]


@st.composite
def generator_parameters(draw) -> dict:
    """Keyword arguments of ``edgeopt.generate("serving", ...)`` within the documented ranges (ends included)."""
    return dict(
        users=draw(st.integers(1, 4)), edges=draw(st.integers(1, 2)), slots=draw(st.integers(1, 4)),
        slot_seconds=draw(st.one_of(st.sampled_from([1.0, 10.0, 60.0, RANGES["slot_seconds"][1]]),
                                    st.integers(1, int(RANGES["slot_seconds"][1])).map(float))),
        models=draw(st.one_of(st.integers(1, len(MODEL_NAMES)),
                              st.lists(st.sampled_from(MODEL_NAMES), min_size=1, max_size=len(MODEL_NAMES),
                                       unique=True))),
        max_configs=draw(st.sampled_from([None, 1, 3])),
        arrivals=draw(st.sampled_from(ARRIVALS)),
        request_rate=draw(_in("request_rate", [0.4, 1.0], RANGES)),
        trace_start=draw(st.one_of(st.none(), st.sampled_from([0, 600, MAX_TRACE_START]),
                                   st.integers(0, MAX_TRACE_START))),
        diurnal_amplitude=draw(_in("diurnal_amplitude", [0.5], RANGES)),
        start_hour=draw(_in("start_hour", [8.0, 20.0], RANGES)),
        uplink_mhz=draw(_in("uplink_mhz", [10.0])),
        downlink_mhz=draw(_in("downlink_mhz", [20.0])),
        cell_radius_m=draw(_in("cell_radius_m", [500.0])),
        cloud=draw(st.booleans()),
        delay_per_second=draw(_in("delay_per_second", [0.05])),
        energy_per_joule=draw(_in("energy_per_joule", [0.001])),
        refusal_penalty=draw(_in("refusal_penalty", [100.0])),
        cloud_price=draw(_in("cloud_price", [5.0])),
        loading_per_second=draw(_in("loading_per_second", [0.05, 1.0], RANGES)),
        edge_gpus=draw(st.one_of(st.none(), st.lists(st.sampled_from(sorted(edgeopt.mec.GPU_MEMORY_GB)), min_size=1,
                                                     max_size=3, unique=True))),
        device_mix=_mix(draw), shuffle=draw(st.booleans()), seed=draw(st.integers(0, 2**31 - 1)),
    )


@budget(0.5)
@given(params=generator_parameters())
def test_the_generator_makes_what_the_loader_accepts(params):
    inst = edgeopt.generate("serving", **params)  # the generator loads what it makes: a refusal raises here
    again = edgeopt.loads(json.dumps(inst.data), "<again>")
    assert again.hash == inst.hash
    assert (inst.num_users, inst.num_edges, inst.slots) == (params["users"], params["edges"], params["slots"])
    assert inst.data["slot_seconds"] == params["slot_seconds"]
    assert inst.cloud_enabled == params["cloud"]
    result = edgeopt.solve(inst, "lru-greedy", seed=0, time_limit=10)
    assert result.solution is not None, result.message
    assert edgeopt.evaluate(inst, result.solution).feasible


#: Parameters out of the serving generator's range, each with the parameter its refusal must name.
OUT_OF_RANGE = [
    ("slot_seconds", [0.0, 0.5, 2.5, 86_401.0, 1e6, math.nan, math.inf, True, "10"]),
    ("loading_per_second", [-1.0, 1e7, math.nan]),
    ("request_rate", [-0.1, 1.5, math.nan, "0.3", None]),
    ("diurnal_amplitude", [-0.1, 2.0, math.nan]),
    ("start_hour", [-1.0, 24.5, math.inf, math.nan]),
    ("trace_start", [-5, 1.5, MAX_TRACE_START + 1, True, "600"]),
    ("arrivals", ["bursty", ["poisson"], None]),
    ("uplink_mhz", [1e7, 0.0, math.nan]),
    ("cell_radius_m", [1.0, 2e5]),
    ("delay_per_second", [math.inf, -1.0]),
    ("refusal_penalty", [2e9]),
    ("cloud_price", [-1.0]),
    ("max_configs", [0, 2.5, "3"]),
    ("seed", [-1, 1.5]),
    ("models", [[], ["cogvideox-2b", "cogvideox-2b"]]),
]


@budget(0.5)
@given(data=st.data())
def test_parameters_out_of_range_are_refused_by_name_before_any_document(data):
    params = data.draw(generator_parameters(), label="valid parameters")
    name, values = data.draw(st.sampled_from(OUT_OF_RANGE), label="parameter")
    params[name] = data.draw(st.sampled_from(values), label="value")
    with pytest.raises(ValueError) as caught:
        edgeopt.generate("serving", **params)
    assert not isinstance(caught.value, InstanceError), str(caught.value)
    assert name in str(caught.value) or "model" in str(caught.value), str(caught.value)
