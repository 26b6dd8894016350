"""The offloading Instance (the cells of edgeopt.mec: read-only arrays, the radio physics derived once, the
option table of each slot, which every solver works on), the Solution, and both to and from their files.

Index order: user ``u``, slot ``t``, edge (and its cell) ``e``, model ``m``, configuration ``k`` (all models'
configurations in one list), device class ``d``. Places: 0 local, 1 edge, 2 cloud. The math (symbols,
units, objective, constraints) is in docs/formulations.md, section "offloading".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeopt.document import Document, InstanceError
from edgeopt.families.offloading.schema import KIND
from edgeopt.mec import (  # noqa: F401  (the cells' names, used by the family's modules through this one)
    CLOUD,
    COMPUTE,
    DOWNLINK,
    EDGE,
    LOCAL,
    PLACES,
    TOL,
    UPLINK,
    Cells,
    Options,
    cells_from_data,
    spectral_efficiency,
)

SENSE = "max"


@dataclass(frozen=True, eq=False)
class Instance(Cells):
    """A validated offloading instance: the cells' fields (edgeopt.mec.Cells), every slot standing alone.
    Arrays are read-only; ``data`` is a copy of the document."""

    kind = KIND
    sense = SENSE

    def __repr__(self) -> str:
        return (f"<offloading instance {self.name!r}: {self.num_users} users, {self.num_edges} edges, "
                f"{self.num_models} models ({self.num_configs} configurations), {self.slots} slots, "
                f"{int(self.requested.sum())} requests>")


def from_data(data: dict, source: str = "<data>") -> Instance:
    """Build an Instance from schema-valid data; raises InstanceError for every broken reference."""
    return Instance(**Document.head(data), **cells_from_data(data, source))


# -- solution ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Solution:
    """Decisions of every slot. ``config`` and ``place`` (U, T): the configuration and place serving the user's
    request, -1 where the user is not served (refused, or nothing asked); ``loaded`` (E, M, T) the models each
    edge holds; ``shares`` (U, T, 3): the user's shares of its cell's uplink and downlink and its edge's compute."""

    config: np.ndarray
    place: np.ndarray
    loaded: np.ndarray
    shares: np.ndarray


def empty_solution(inst: Instance) -> Solution:
    U, T = inst.num_users, inst.slots
    return Solution(np.full((U, T), -1, np.int64), np.full((U, T), -1, np.int64),
                    np.zeros((inst.num_edges, inst.num_models, T), bool), np.zeros((U, T, 3)))


def solution_to_data(inst: Instance, sol: Solution) -> dict:
    """Per slot: the models loaded on each edge, each requesting user's choice (null: refused), and the shares
    of every user who offloads."""
    slots = []
    names = [n.split("/", 1) for n in inst.config_names]
    for t in range(inst.slots):
        choices, shares = {}, {}
        for u in np.flatnonzero(inst.requested[:, t]):
            k, p = int(sol.config[u, t]), int(sol.place[u, t])
            choices[inst.user_names[u]] = None if k < 0 else {"model": names[k][0], "config": names[k][1],
                                                              "place": PLACES[p]}
        for u in np.flatnonzero(np.asarray(sol.shares)[:, t].any(axis=1)):
            s = sol.shares[u, t]
            shares[inst.user_names[u]] = {"uplink": float(s[0]), "downlink": float(s[1]), "compute": float(s[2])}
        slots.append({"loaded": {inst.edge_names[e]: [inst.model_names[m] for m in np.flatnonzero(sol.loaded[e, :, t])]
                                 for e in range(inst.num_edges)},
                      "choices": choices, "shares": shares})
    return {"slots": slots}


def solution_from_data(inst: Instance, data: dict, source: str = "<solution>") -> Solution:
    """Parse the decisions written by :func:`solution_to_data`; every bad reference is reported."""
    sol = empty_solution(inst)
    config, place, loaded, shares = sol.config.copy(), sol.place.copy(), sol.loaded.copy(), sol.shares.copy()
    problems: list[tuple[str, str]] = []
    ui = {n: i for i, n in enumerate(inst.user_names)}
    ei = {n: i for i, n in enumerate(inst.edge_names)}
    mi = {n: i for i, n in enumerate(inst.model_names)}
    ki = {n: i for i, n in enumerate(inst.config_names)}
    if len(data["slots"]) != inst.slots:
        raise InstanceError(source, [("decisions.slots", f"must be an array of {inst.slots} slot(s)")])
    for t, s in enumerate(data["slots"]):
        where = f"decisions.slots[{t}]"
        for edge, names in s["loaded"].items():
            if edge not in ei:
                problems.append((f"{where}.loaded.{edge}", "no such edge"))
                continue
            for j, name in enumerate(names):
                if name not in mi:
                    problems.append((f"{where}.loaded.{edge}[{j}]", f"no model named {name!r}"))
                else:
                    loaded[ei[edge], mi[name], t] = True
        for user, choice in s["choices"].items():
            if user not in ui:
                problems.append((f"{where}.choices.{user}", "no such user"))
            elif choice is not None:
                key = f"{choice['model']}/{choice['config']}"
                if key not in ki:
                    problems.append((f"{where}.choices.{user}", f"no configuration {choice['config']!r} of model "
                                     f"{choice['model']!r}"))
                else:
                    config[ui[user], t], place[ui[user], t] = ki[key], PLACES.index(choice["place"])
        for user, x in s["shares"].items():
            if user not in ui:
                problems.append((f"{where}.shares.{user}", "no such user"))
            else:
                shares[ui[user], t] = (x["uplink"], x["downlink"], x["compute"])
    if problems:
        raise InstanceError(source, problems)
    return Solution(config, place, loaded, shares)
