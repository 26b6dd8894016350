"""The serving family's online heuristics as registered solvers (the rules: solvers/online.py)."""
from __future__ import annotations

import numpy as np

from edgeopt.families.serving.solvers.exact import online_result
from edgeopt.families.serving.solvers.online import Decision, View, greedy_slot, static_plan
from edgeopt.registry import register_solver
from edgeopt.solver import Solver, deadline


class _Greedy(Solver):
    family = "serving"
    eviction = "keep"
    what = ""

    def policy(self):
        return lambda view: greedy_slot(view, self.eviction)

    def run(self, instance, options, *, time_limit, seed, started):
        return online_result(self, instance, self.policy(), self.what, started=started,
                             until=deadline(started, time_limit))


@register_solver
class KeepGreedy(_Greedy):
    """Online: best responses slot by slot; a model is loaded only into free memory and never evicted."""

    name, eviction, what = "keep-greedy", "keep", "best responses, models kept once loaded"


@register_solver
class LRUGreedy(_Greedy):
    """Online: best responses slot by slot; a model that does not fit evicts the least recently used models
    no request of the slot uses."""

    name, eviction, what = "lru-greedy", "lru", "best responses, least recently used models evicted"


@register_solver
class LFUGreedy(_Greedy):
    """Online: best responses slot by slot; a model that does not fit evicts the least frequently used models
    no request of the slot uses."""

    name, eviction, what = "lfu-greedy", "lfu", "best responses, least frequently used models evicted"


@register_solver
class StaticPlan(_Greedy):
    """Online: per edge the models by the first slot's demand per GB while they fit, loaded once and kept;
    every slot's requests take their best responses among local, cloud and those models."""

    name, what = "static-plan", "models planned from the first slot's demand, kept all horizon"

    def policy(self):
        plan: dict[str, np.ndarray] = {}

        def decide(view: View) -> Decision:
            if "plan" not in plan:
                plan["plan"] = static_plan(view)
            return greedy_slot(view, "keep", fixed=plan["plan"])

        return decide
