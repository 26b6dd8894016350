"""The serving family's online heuristics as registered solvers (the rules: solvers/online.py; forward-greedy's:
board.py)."""
from __future__ import annotations

import numpy as np

from edgeopt.families.serving.board import Memory, SlotPlay
from edgeopt.families.serving.solvers.exact import online_result
from edgeopt.families.serving.solvers.online import Decision, View, greedy_slot, static_plan
from edgeopt.registry import register_solver
from edgeopt.rl import first_best
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


class _Forward:
    """forward-greedy's decision rule, one per episode (it remembers the offered load of earlier slots)."""

    def __init__(self):
        self.memory = Memory()

    def __call__(self, view: View) -> Decision:
        play = SlotPlay(view, self.memory)
        play.with_state = False
        while not play.done:
            move = play.rows()
            play.apply(move, first_best(np.where(move.allowed, move.forward, -np.inf), move.mover, move.cell.size))
        play.remember()
        return play.decision()


@register_solver
class ForwardGreedy(_Greedy):
    """Online: best responses slot by slot (edges hold, or load a model, first; then each cell's requests in
    turn, LRU eviction) with every second a request or a load adds to its edge's backlog priced for the
    slots until that backlog would drain at the edge's recent offered load (never at a load of 1 or more),
    to the horizon's end: what myopic charges once, charged for as long as it stays."""

    name, what = "forward-greedy", "best responses with backlog priced until it would drain"

    def policy(self):
        return _Forward()
