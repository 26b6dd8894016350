"""Online methods of the serving family and the rule they live under: a method decides slot t knowing the
state it starts from, slot t's requests and everything before t, and nothing after.

**The information rule, in code.** :func:`run_online` is the only way an online method meets an instance. For
each slot it builds a :class:`View` (the instance's statics: edges, models, weights, which cell each user is
in; the state: models loaded, backlogs; slot t's option table; the option tables and the method's own
decisions of the slots before) and asks the method's ``decide(view)`` for every requesting user's option
(or refusal) and the models each edge holds in the slot. The method never holds the instance, so it cannot
read a later slot; tests/test_serving.py changes every request after slot t and checks that every online
method's decisions up to t stay the same. The driver (its bookkeeping: :class:`Episode`, which the PettingZoo
environment shares) checks each decision (a chosen edge option's model must be loaded, the loaded models must
fit) and carries the state forward as the evaluator does.

**Heuristics** (per slot, cells side by side): requests in order of their best stand-alone value, each taking
its best response to the choices made before it in the slot: an option's value less its squared-root
congestion (optimal shares), and for an edge option the backlog its work would leave at the slot's end and,
if its model is not loaded, the model's loading cost (and the backlog of loading it); a model that does not fit the memory left is loaded only
by evicting models no request of the slot uses, chosen by the method's ``eviction``:

- ``keep-greedy``: never evicts (a model is loaded only into free memory) and unloads nothing;
- ``lru-greedy``: evicts the least recently used model first;
- ``lfu-greedy``: evicts the least frequently used model first (uses counted over the slots so far);
- ``static-plan``: the deployment-style plan for the demand seen in the first slot, applied statically: per
  edge, models by that slot's demand (requests whose best edge option uses the model) per GB while they fit,
  loaded in the first slot and never changed; every slot's requests then take their best responses among
  local, cloud and those models.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from edgeopt.families.serving.solvers.window import State, Statics
from edgeopt.mec import EDGE, Options


@dataclass(frozen=True)
class View:
    """What an online method sees when it decides slot ``t`` (module docstring)."""

    statics: Statics
    t: int
    options: Options
    state: State
    past: tuple  # the option tables of slots 0..t-1
    last_used: np.ndarray  # (E, M) the last slot in which a request used each (edge, model), -1 never
    uses: np.ndarray  # (E, M) how many requests used each (edge, model) so far


@dataclass(frozen=True)
class Decision:
    """A slot's decision: ``chosen`` per requesting user (index into the view's option table, -1 refused) and
    ``loaded`` (E, M) the models each edge holds during the slot."""

    chosen: np.ndarray
    loaded: np.ndarray


def step_state(statics: Statics, state: State, opts: Options, decision: Decision) -> State:
    """The state after a slot: its loaded models, and each edge's backlog after the slot's work (its edge
    requests' GPU seconds at full speed and the seconds of the models it loaded)."""
    loads = decision.loaded & ~state.loaded
    work = loads.astype(float) @ statics.model_load_seconds
    picked = decision.chosen[decision.chosen >= 0]
    on_edge = picked[opts.place[picked] == EDGE]
    np.add.at(work, opts.edge[on_edge], statics.config_reference_seconds[opts.config[on_edge]]
              / statics.edge_speed[opts.edge[on_edge]])
    return State(decision.loaded.copy(), np.maximum(0.0, state.backlog + work - statics.slot_seconds))


def check_decision(statics: Statics, opts: Options, decision: Decision, who: str) -> None:
    """A method's decision must serve each request at most once, with options of the slot, edge options only
    with their model loaded, and loaded models within each edge's memory."""
    chosen = np.asarray(decision.chosen)
    if chosen.shape != opts.users.shape or (chosen >= opts.num_options).any() or (chosen < -1).any():
        raise RuntimeError(f"{who}: its decision is not one option (or -1) per requesting user")
    served = np.flatnonzero(chosen >= 0)
    picked = chosen[served]
    if (opts.user[picked] != opts.users[served]).any():
        raise RuntimeError(f"{who}: a user was given another user's option")
    on_edge = picked[opts.place[picked] == EDGE]
    if not decision.loaded[opts.edge[on_edge], opts.model[on_edge]].all():
        raise RuntimeError(f"{who}: an edge option's model is not loaded")
    if ((decision.loaded.astype(float) @ statics.model_memory_gb) > statics.edge_memory_gb * (1 + 1e-9)).any():
        raise RuntimeError(f"{who}: the loaded models exceed an edge's memory")


class Episode:
    """The driver's bookkeeping of one online episode, slot by slot: :meth:`view` is what a method sees of the
    current slot ``t``; :meth:`commit` checks the slot's decision, records it and carries the state forward as
    the evaluator does. :func:`run_online` plays an instance with it, and so does the PettingZoo environment
    (edgeopt/families/serving/env.py). Once ``done``, ``chosen`` (per slot, indices into each slot's option
    table) and ``loaded`` (E, M, T) are the episode's plan."""

    def __init__(self, inst):
        self.inst = inst
        self.statics = Statics.of(inst)
        self.state = State.initial(inst)
        E, M = inst.num_edges, inst.num_models
        self.last_used = np.full((E, M), -1, dtype=np.int64)
        self.uses = np.zeros((E, M), dtype=np.int64)
        self.chosen: list[np.ndarray] = []
        self.loaded = np.zeros((E, M, inst.slots), dtype=bool)
        self.past: list = []
        self.t = 0

    @property
    def done(self) -> bool:
        return self.t >= self.inst.slots

    def options(self) -> Options:
        """The current slot's option table."""
        return self.inst.options(self.t)

    def view(self) -> View:
        """What a method may see when it decides the current slot (the information rule)."""
        if self.done:
            raise RuntimeError("the episode is over: every slot is decided")
        return View(self.statics, self.t, self.options(), self.state, tuple(self.past), self.last_used.copy(),
                    self.uses.copy())

    def commit(self, decision: Decision, who: str = "the method") -> None:
        """Check the current slot's decision (``check_decision``; ``who`` names the method in its errors),
        record it and move on to the next slot."""
        if self.done:
            raise RuntimeError("the episode is over: every slot is decided")
        check_decision(self.statics, self.options(), decision, who)
        self._record(decision)

    def refuse_all(self) -> None:
        """Decide the current slot for nobody (a method out of time): every request refused, the loaded
        models kept."""
        if self.done:
            raise RuntimeError("the episode is over: every slot is decided")
        self._record(Decision(np.full(self.options().users.size, -1, dtype=np.int64), self.state.loaded.copy()))

    def _record(self, decision: Decision) -> None:
        t, opts = self.t, self.options()
        picked = decision.chosen[decision.chosen >= 0]
        on_edge = picked[opts.place[picked] == EDGE]
        self.last_used[opts.edge[on_edge], opts.model[on_edge]] = t
        np.add.at(self.uses, (opts.edge[on_edge], opts.model[on_edge]), 1)
        self.chosen.append(np.asarray(decision.chosen, dtype=np.int64))
        self.loaded[:, :, t] = decision.loaded
        self.state = step_state(self.statics, self.state, opts, decision)
        self.past.append(opts)
        self.t += 1


def run_online(inst, decide, stop: float | None = None) -> tuple[list[np.ndarray], np.ndarray, int]:
    """Play every slot with ``decide(view) -> Decision`` under the information rule. Returns the choices per
    slot (indices into each slot's option table), the loaded models (E, M, T) and how many slots were decided
    before ``stop`` (the later ones: every request refused, the loaded models kept)."""
    episode, done = Episode(inst), 0
    who = getattr(decide, "__qualname__", "the method")
    while not episode.done:
        if stop is not None and time.perf_counter() >= stop:
            episode.refuse_all()
        else:
            episode.commit(decide(episode.view()), who)
            done += 1
    return episode.chosen, episode.loaded, done


# -- the greedy heuristics ---------------------------------------------------------------------------------
EVICTIONS = ("keep", "lru", "lfu")


def greedy_slot(view: View, eviction: str, fixed: np.ndarray | None = None) -> Decision:
    """Best responses in order (module docstring). ``fixed`` (E, M): the loaded set, never changed."""
    st, o, state = view.statics, view.options, view.state
    E, M = st.num_edges, st.num_models
    loaded = state.loaded.copy() if fixed is None else fixed.copy()
    used_now = np.zeros((E, M), dtype=bool)
    n = o.users.size
    chosen = np.full(n, -1, dtype=np.int64)
    root = np.sqrt(o.cost)
    usable = np.isfinite(o.value - o.cost.sum(axis=1)) & np.isfinite(o.cost).all(axis=1)
    owner = np.searchsorted(o.users, o.user)
    standalone = np.where(usable, o.value - o.cost.sum(axis=1), -np.inf)
    best = np.full(n, -np.inf)
    np.maximum.at(best, owner, standalone)
    roots = np.zeros(3 * E)
    work = np.zeros(E)  # the GPU seconds asked of each edge in the slot so far
    load_cost = st.loading_per_second * st.model_load_seconds

    def backlog_cost(e, extra):
        """What ``extra`` GPU seconds on edge ``e`` add to the slot's backlog cost."""
        before = np.maximum(0.0, state.backlog[e] + work[e] - st.slot_seconds)
        return st.delay_per_second * (np.maximum(0.0, state.backlog[e] + work[e] + extra - st.slot_seconds) - before)
    if eviction == "lru":
        rank = view.last_used  # evict the smallest (least recent) first
    elif eviction == "lfu":
        rank = view.uses
    else:
        rank = None
    for i in np.argsort(-best, kind="stable"):
        idx = np.flatnonzero((owner == i) & usable)
        if idx.size == 0:
            continue
        s = root[idx]
        R = roots[o.resource[idx]]
        delta = o.value[idx] - (s * (2.0 * R + s)).sum(axis=1) - o.refusal_value
        e, m = o.edge[idx], o.model[idx]
        on_edge = o.place[idx] == EDGE
        need = on_edge & ~loaded[e, m]
        fresh = need & ~state.loaded[e, m]  # held when the slot began and dropped in it: back for free
        seconds = np.where(on_edge, st.config_reference_seconds[o.config[idx]] / st.edge_speed[e], 0.0) + np.where(
            fresh, st.model_load_seconds[m], 0.0)
        delta = np.where(on_edge, delta - backlog_cost(e, seconds), delta)
        delta = np.where(fresh, delta - load_cost[m], delta)
        if fixed is not None:
            delta = np.where(need, -np.inf, delta)
        else:
            for a in np.flatnonzero(need):
                if not _can_load(st, loaded, used_now, int(e[a]), int(m[a]), rank):
                    delta[a] = -np.inf
        a = int(np.argmax(delta))
        if not delta[a] > 0.0:
            continue
        k = int(idx[a])
        if o.place[k] == EDGE and not loaded[o.edge[k], o.model[k]]:
            _load(st, loaded, used_now, int(o.edge[k]), int(o.model[k]), rank)
        if o.place[k] == EDGE:
            used_now[o.edge[k], o.model[k]] = True
            work[o.edge[k]] += seconds[a]
        chosen[i] = k
        np.add.at(roots, o.resource[k], root[k])
    return Decision(chosen, loaded)


def _room(st: Statics, loaded: np.ndarray, e: int) -> float:
    return float(st.edge_memory_gb[e] * (1 + 1e-9) - loaded[e].astype(float) @ st.model_memory_gb)


def _victims(st: Statics, loaded: np.ndarray, used_now: np.ndarray, e: int, m: int, rank) -> list[int] | None:
    """The models to evict from edge ``e`` so that ``m`` fits (None: impossible)."""
    free = _room(st, loaded, e)
    if st.model_memory_gb[m] <= free:
        return []
    if rank is None:
        return None
    candidates = [j for j in np.flatnonzero(loaded[e] & ~used_now[e])]
    candidates.sort(key=lambda j: (rank[e, j], j))
    out = []
    for j in candidates:
        out.append(int(j))
        free += st.model_memory_gb[j]
        if st.model_memory_gb[m] <= free:
            return out
    return None


def _can_load(st, loaded, used_now, e, m, rank) -> bool:
    return _victims(st, loaded, used_now, e, m, rank) is not None


def _load(st, loaded, used_now, e, m, rank) -> None:
    for j in _victims(st, loaded, used_now, e, m, rank):
        loaded[e, j] = False
    loaded[e, m] = True


def static_plan(view: View) -> np.ndarray:
    """(E, M) per edge the models by demand per GB in the view's slot while they fit (module docstring)."""
    st, o = view.statics, view.options
    E, M = st.num_edges, st.num_models
    usable = np.isfinite(o.value - o.cost.sum(axis=1)) & np.isfinite(o.cost).all(axis=1)
    alone = np.where(usable, o.value - o.cost.sum(axis=1), -np.inf)
    owner = np.searchsorted(o.users, o.user)
    demand = np.zeros((E, M))
    edge = np.flatnonzero(usable & (o.place == EDGE))
    best_edge = np.full(o.users.size, -1, dtype=np.int64)
    for k in edge[np.argsort(alone[edge], kind="stable")]:  # the last write is each user's best edge option
        best_edge[owner[k]] = k
    for k in best_edge[best_edge >= 0]:
        demand[o.edge[k], o.model[k]] += 1.0
    plan = np.zeros((E, M), dtype=bool)
    for e in range(E):
        used = 0.0
        for m in np.argsort(-demand[e] / st.model_memory_gb, kind="stable"):
            if demand[e, m] > 0 and used + st.model_memory_gb[m] <= st.edge_memory_gb[e] * (1 + 1e-9):
                plan[e, m] = True
                used += st.model_memory_gb[m]
    return plan
