"""What a learned offloading policy sees and does, in numpy: the fixed action space, the observation and global
state layouts, and one slot's step (actions to choices, repair, reward). The PettingZoo environment (env.py)
and the policy solvers (solvers/mappo.py) share this module; it imports nothing but numpy and the family.

**Actions** (the same for every instance, whatever its size): ``3 * config + place`` for a configuration slot
``config < K_MAX`` (the instance's configurations in their order; an instance with more than ``K_MAX``
configurations offers only its first ``K_MAX`` to a policy) and a place (0 local, 1 edge, 2 cloud), and
``REFUSE = 3 * K_MAX``: refuse the request, or stay idle for a user who asks nothing. The mask allows exactly
the options of the slot's option table (``Instance.options(t)``: the device can run it, the edge can host
the model and the configuration's peak, the cloud is enabled, the video is long enough) whose costs are
finite, plus REFUSE; a user who asks nothing has REFUSE only.

**Taking the actions** (:meth:`Slot.decide`): an action the mask forbids is taken as refusal; then, per edge,
if the models the edge options need do not fit its GPU memory, models are dropped (fewest users first, then
largest, then last in the catalog) until they fit, and their users are refused. What is left is always a
valid plan (the evaluator checks it).

**Observation** of a user (``OBSERVATION`` floats, each clipped to [-OBS_CLIP, OBS_CLIP]; the blocks and their
units are in ``OBSERVATION_FIELDS``): its request, channel, distance and device (class one-hot and
capabilities); its cell now (how many ask, the edge's GPU, its rank among them by how much the edge adds
to its best alternative); its cell in the last slot (how many users chose each place, the summed square
roots of the costs on each resource); and per action slot: available, its value and its costs on the
uplink, downlink and compute (square roots, the form the square-root rule prices), and its value against
the last slot's loads. Values are in units of ``VALUE_UNIT`` relative to the user's best option alone.

**State** (``STATE`` floats): aggregates that do not depend on the number of users: how many ask, device mix,
channel means and quantiles, last-slot place fractions, per edge (the first ``E_MAX``) requests, GPU and
last-slot loads, the weights, the slot's progress.

**Reward** of a slot: its objective after the allocation stage (plans.slot_value for the closed form,
priced with the actual shares for "slsqp" and "equal"), the evaluator's objective of that slot.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from edgeopt.allocation import SolverFailed
from edgeopt.families.offloading.instance import CLOUD, EDGE, LOCAL, Instance, Options
from edgeopt.families.offloading.plans import shares, slot_value

#: Bumped whenever the meaning or the order of an observation, state or action changes: a policy trained on
#: another layout is refused.
LAYOUT_VERSION = 1
#: Configuration slots of the action space.
K_MAX = 16
PLACES = 3
REFUSE = PLACES * K_MAX
ACTIONS = REFUSE + 1
#: Device classes with their own one-hot entry (a class beyond shares the last one).
D_MAX = 4
#: Edges described one by one in the state (the others only in its aggregates).
E_MAX = 8
#: Objective units of one "value" in the features (a refused request costs 100 in generated instances).
VALUE_UNIT = 100.0
#: Every feature is clipped to [-OBS_CLIP, OBS_CLIP].
OBS_CLIP = 10.0
#: A count of users is divided by this in the features.
USERS_UNIT = 50.0

OPTION_FIELDS = ("available", "value", "root_uplink", "root_downlink", "root_compute", "value_at_last_loads")
USER_FIELDS = ("asks", "requested_seconds", "uplink_efficiency", "downlink_efficiency", "distance_km",
               *(f"device_{i}" for i in range(D_MAX)), "device_has_gpu", "device_speed", "device_memory",
               "device_power", "tx_power", "rx_power", "best_alone", "best_alone_over_refusal", "options")
CELL_FIELDS = ("cell_requests", "cell_request_share", "edge_speed", "edge_memory", "cloud_enabled",
               "edge_rank", "edge_rank_share", "edge_advantage",
               "last_local", "last_edge", "last_cloud", "last_refused", "last_root_uplink", "last_root_downlink",
               "last_root_compute")
OBSERVATION_FIELDS = (USER_FIELDS + CELL_FIELDS
                      + tuple(f"{f}[{k}/{p}]" for k in range(K_MAX) for p in ("local", "edge", "cloud")
                              for f in OPTION_FIELDS))
OBSERVATION = len(OBSERVATION_FIELDS)
_U, _C = len(USER_FIELDS), len(CELL_FIELDS)

EDGE_FIELDS = ("exists", "requests", "speed", "memory", "last_edge_users", "last_root_compute",
               "last_root_downlink", "mean_edge_advantage")
STATE_FIELDS = (("users", "requests", "request_share") + tuple(f"device_share_{i}" for i in range(D_MAX))
                + tuple(f"{w}_{s}" for w in ("uplink", "downlink") for s in ("mean", "q10", "q50", "q90"))
                + ("last_local", "last_edge", "last_cloud", "last_refused", "cloud_enabled", "delay_weight",
                   "energy_weight", "refusal_penalty", "progress", "mean_best_alone")
                + tuple(f"edge{e}_{f}" for e in range(E_MAX) for f in EDGE_FIELDS))
STATE = len(STATE_FIELDS)

#: What a policy file must agree with (compared key by key when a policy is loaded).
LAYOUT = {"version": LAYOUT_VERSION, "observation": OBSERVATION, "state": STATE, "actions": ACTIONS,
          "k_max": K_MAX, "d_max": D_MAX, "e_max": E_MAX, "value_unit": VALUE_UNIT}


def action_of(config: int, place: int) -> int:
    """The action that serves with configuration slot ``config`` at ``place`` (0 local, 1 edge, 2 cloud)."""
    return PLACES * int(config) + int(place)


# -- per instance, computed once --------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Static:
    distance_km: np.ndarray  # (U, T)
    user: np.ndarray  # (U, n_user_static) device features per user
    cell_users: np.ndarray  # (E,) users per cell


_STATIC: weakref.WeakKeyDictionary[Instance, _Static] = weakref.WeakKeyDictionary()


def _static(inst: Instance) -> _Static:
    got = _STATIC.get(inst)
    if got is None:
        distance = np.array([u["distance_m"] for u in inst.content["users"]], dtype=float) / 1000.0
        D = len(inst.device_names)
        onehot = np.zeros((D, D_MAX))
        onehot[np.arange(D), np.minimum(np.arange(D), D_MAX - 1)] = 1.0
        device = np.column_stack([onehot, inst.device_speed > 0, inst.device_speed * 10.0,
                                  inst.device_memory_gb / 32.0, inst.device_power_watts / 100.0,
                                  inst.device_tx_watts, inst.device_rx_watts * 10.0])
        got = _Static(distance, device[inst.user_device],
                      np.bincount(inst.user_edge, minlength=inst.num_edges).astype(float))
        _STATIC[inst] = got
    return got


# -- what the last slot left -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Loads:
    """What the users of each cell chose in a slot: counts (E, 4) of local, edge, cloud and refused (of the
    users who asked), and per resource (3E: uplinks, downlinks, computes) the sum of the square roots of the
    chosen options' costs (with closed-form shares a resource costs that sum squared)."""

    counts: np.ndarray
    roots: np.ndarray

    @classmethod
    def none(cls, edges: int) -> Loads:
        return cls(np.zeros((edges, 4)), np.zeros(3 * edges))


# -- one slot ---------------------------------------------------------------------------------------------
class Slot:
    """Slot ``t`` of ``inst`` as a policy sees it (``last``: the loads of the slot before, None at the first)."""

    def __init__(self, inst: Instance, t: int, last: Loads | None = None):
        o = inst.options(t)
        self.inst, self.t, self.opts = inst, t, o
        self.last = Loads.none(inst.num_edges) if last is None else last
        U, E, n = inst.num_users, inst.num_edges, int(o.users.size)
        self.n = n
        self.pos = np.full(U, -1, dtype=np.int64)  # each user's position in o.users (-1: asks nothing)
        self.pos[o.users] = np.arange(n)
        self.root = np.sqrt(o.cost)
        standalone = o.value - o.cost.sum(axis=1)
        usable = np.isfinite(standalone) & (o.config < K_MAX)
        self.owner = np.searchsorted(o.users, o.user)  # each option's position
        act = PLACES * o.config + o.place
        self.table = np.full((n, REFUSE), -1, dtype=np.int64)  # option index of (position, action)
        self.table[self.owner[usable], act[usable]] = np.flatnonzero(usable)
        self.usable = usable
        self.standalone = standalone
        mask = np.zeros((U, ACTIONS), dtype=bool)
        mask[o.users, :REFUSE] = self.table >= 0
        mask[:, REFUSE] = True
        self.mask = mask
        # every requesting user's best option alone, best edge and best non-edge option alone
        self.best = np.full(n, o.refusal_value)
        np.maximum.at(self.best, self.owner[usable], standalone[usable])
        edge_opt = usable & (o.place == EDGE)
        best_edge = np.full(n, -np.inf)
        np.maximum.at(best_edge, self.owner[edge_opt], standalone[edge_opt])
        best_other = np.full(n, o.refusal_value)
        other = usable & (o.place != EDGE)
        np.maximum.at(best_other, self.owner[other], standalone[other])
        self.advantage = np.where(np.isfinite(best_edge), best_edge - best_other, -np.inf)
        self.cell = inst.user_edge[o.users]  # each requesting user's cell
        self.requests = np.bincount(self.cell, minlength=E).astype(float)

    # -- what the policy sees --------------------------------------------------------------------------
    def observations(self) -> np.ndarray:
        """(U, OBSERVATION) float32: every user's observation (module docstring; ``OBSERVATION_FIELDS``)."""
        inst, o, t, n = self.inst, self.opts, self.t, self.n
        U, E = inst.num_users, inst.num_edges
        st = _static(inst)
        obs = np.zeros((U, OBSERVATION))
        users = o.users
        # the user: request, channel, device
        obs[:, 0] = inst.requested[:, t]
        obs[:, 1] = inst.requested_seconds[:, t] / 8.0
        obs[:, 2] = inst.uplink_efficiency[:, t] / 10.0
        obs[:, 3] = inst.downlink_efficiency[:, t] / 10.0
        obs[:, 4] = st.distance_km[:, t]
        obs[:, 5:5 + st.user.shape[1]] = st.user
        j = 5 + st.user.shape[1]
        count = (self.table >= 0).sum(axis=1)
        obs[users, j] = self.best / VALUE_UNIT
        obs[users, j + 1] = (self.best - o.refusal_value) / VALUE_UNIT
        obs[users, j + 2] = count / REFUSE
        # the cell: now
        c = _U
        e = inst.user_edge
        obs[:, c] = self.requests[e] / USERS_UNIT
        obs[:, c + 1] = self.requests[e] / np.maximum(st.cell_users[e], 1.0)
        obs[:, c + 2] = inst.edge_speed[e]
        obs[:, c + 3] = inst.edge_memory_gb[e] / 80.0
        obs[:, c + 4] = float(inst.cloud_enabled)
        if n:
            # rank among the cell's requesting users by what the edge adds to their best alternative
            # (most first; ties by downlink efficiency, then index)
            adv = np.where(np.isfinite(self.advantage), self.advantage, -1e9)
            order = np.lexsort((users, -inst.downlink_efficiency[users, t], -adv, self.cell))
            first = np.searchsorted(self.cell[order], self.cell[order], side="left")
            rank = np.empty(n)
            rank[order] = np.arange(n) - first
            obs[users, c + 5] = rank / USERS_UNIT
            obs[users, c + 6] = rank / np.maximum(self.requests[self.cell] - 1.0, 1.0)
            obs[users, c + 7] = np.clip(adv, -OBS_CLIP, OBS_CLIP) / 10.0
        # the cell: the last slot
        last = self.last
        asked = np.maximum(last.counts.sum(axis=1), 1.0)
        obs[:, c + 8:c + 12] = (last.counts / asked[:, None])[e]
        obs[:, c + 12] = last.roots[e] * 100.0
        obs[:, c + 13] = last.roots[E + e] * 10.0
        obs[:, c + 14] = last.roots[2 * E + e]
        # the options
        if n:
            keep = np.flatnonzero(self.usable)
            k = keep
            rel = (o.value[k] - self.best[self.owner[k]]) / 10.0
            R = last.roots[o.resource[k]]
            s = self.root[k]
            at_last = (o.value[k] - (s * (2.0 * R + s)).sum(axis=1) - self.best[self.owner[k]]) / 10.0
            feats = np.column_stack([np.ones(k.size), rel, s[:, 0] * 100.0, s[:, 1] * 10.0, s[:, 2], at_last])
            base = _U + _C + (PLACES * o.config[k] + o.place[k]) * len(OPTION_FIELDS)
            cols = base[:, None] + np.arange(len(OPTION_FIELDS))
            obs[users[self.owner[k]][:, None], cols] = feats
        np.clip(obs, -OBS_CLIP, OBS_CLIP, out=obs)
        return obs.astype(np.float32)

    def state(self) -> np.ndarray:
        """(STATE,) float32: the global state (module docstring; ``STATE_FIELDS``)."""
        inst, o, t, n = self.inst, self.opts, self.t, self.n
        E = inst.num_edges
        s = np.zeros(STATE)
        U = inst.num_users
        s[0], s[1], s[2] = U / 100.0, n / 100.0, n / U
        dev = np.bincount(np.minimum(inst.user_device[o.users], D_MAX - 1), minlength=D_MAX)
        s[3:3 + D_MAX] = dev / max(n, 1)
        j = 3 + D_MAX
        for eff in (inst.uplink_efficiency, inst.downlink_efficiency):
            x = eff[o.users, t] / 10.0 if n else np.zeros(1)
            s[j:j + 4] = [x.mean(), *np.quantile(x, [0.1, 0.5, 0.9])]
            j += 4
        counts = self.last.counts.sum(axis=0)
        s[j:j + 4] = counts / max(counts.sum(), 1.0)
        j += 4
        s[j:j + 6] = [float(inst.cloud_enabled), inst.delay_per_second * 10.0, inst.energy_per_joule * 1000.0,
                      inst.refusal_penalty / VALUE_UNIT, t / max(inst.slots, 1),
                      float(self.best.mean()) / VALUE_UNIT if n else 0.0]
        j += 6
        m = min(E, E_MAX)
        adv = np.where(np.isfinite(self.advantage), self.advantage, 0.0)
        mean_adv = np.bincount(self.cell, weights=adv, minlength=E) / np.maximum(self.requests, 1.0)
        edges = np.column_stack([np.ones(m), self.requests[:m] / USERS_UNIT, inst.edge_speed[:m],
                                 inst.edge_memory_gb[:m] / 80.0, self.last.counts[:m, 1] / USERS_UNIT,
                                 self.last.roots[2 * E:2 * E + m], self.last.roots[E:E + m] * 10.0,
                                 mean_adv[:m] / 10.0])
        s[j:j + edges.size] = edges.ravel()
        np.clip(s, -OBS_CLIP, OBS_CLIP, out=s)
        return s.astype(np.float32)

    # -- what the actions do ---------------------------------------------------------------------------
    def decide(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every requesting user's option (in the order of ``opts.users``; -1 refused) for the users' actions
        (U,), and which users' actions were repaired: forbidden by the mask (taken as refusal; for a user who
        asks nothing, any action but REFUSE), or refused because their edge's memory could not hold every
        model asked for."""
        o = self.opts
        actions = np.asarray(actions, dtype=np.int64)
        repaired = (actions < 0) | (actions >= ACTIONS)
        a = np.where(repaired, REFUSE, actions)
        repaired |= ~self.mask[np.arange(a.size), a]
        chosen = np.full(self.n, -1, dtype=np.int64)
        if self.n:
            mine = a[o.users]
            ok = (mine < REFUSE) & ~repaired[o.users]
            chosen[ok] = self.table[np.flatnonzero(ok), mine[ok]]
            dropped = self._fit_memory(chosen)
            repaired[o.users[dropped]] = True
            chosen[dropped] = -1
        return chosen, repaired

    def _fit_memory(self, chosen: np.ndarray) -> np.ndarray:
        """Positions of the users refused because their edge cannot hold every model its users asked for."""
        o, inst = self.opts, self.inst
        picked = np.flatnonzero(chosen >= 0)
        on_edge = picked[o.place[chosen[picked]] == EDGE]
        if on_edge.size == 0:
            return np.zeros(0, dtype=np.int64)
        e, m = o.edge[chosen[on_edge]], o.model[chosen[on_edge]]
        M = inst.num_models
        users_of = np.zeros((inst.num_edges, M), dtype=np.int64)
        np.add.at(users_of, (e, m), 1)
        capacity = inst.edge_memory_gb * (1 + 1e-9)
        drop = np.zeros_like(users_of, dtype=bool)
        for edge in np.flatnonzero((users_of > 0) @ inst.model_memory_gb > capacity):
            held = np.flatnonzero(users_of[edge] > 0)
            # fewest users first, then the largest model, then the last in the catalog
            for model in held[np.lexsort((-held, -inst.model_memory_gb[held], users_of[edge, held]))]:
                if (users_of[edge] > 0) @ inst.model_memory_gb <= capacity[edge]:
                    break
                users_of[edge, model] = 0
                drop[edge, model] = True
        return on_edge[drop[e, m]]

    def objective(self, chosen: np.ndarray, allocation: str = "closed") -> float:
        """The slot's objective for the choices after the allocation stage: ``plans.slot_value`` (the
        square-root rule's optimum) for "closed"; for "slsqp" and "equal" the options' values less each
        cost over its actual share (SLSQP failing falls back to the closed form, shares over 1 are scaled
        down, as the heuristics do)."""
        if allocation == "closed":
            return slot_value(self.opts, chosen)
        x = slot_shares(self.inst, self.opts, chosen, allocation)
        return priced(self.opts, chosen, x)

    def differences(self, chosen: np.ndarray) -> np.ndarray:
        """(U,) what each user's choice adds to the slot's objective (closed-form shares) against refusing it,
        the others' choices fixed: ``value - refusal - sum_r s (2 R_r - s)`` with ``R_r`` the summed square
        roots on the user's resources. 0 for a refused user and for one who asks nothing."""
        o = self.opts
        out = np.zeros(self.inst.num_users)
        has = chosen >= 0
        if not has.any():
            return out
        picked = chosen[has]
        roots = np.zeros(3 * self.inst.num_edges)
        np.add.at(roots, o.resource[picked].ravel(), self.root[picked].ravel())
        s = self.root[picked]
        R = roots[o.resource[picked]]
        out[o.users[has]] = o.value[picked] - o.refusal_value - (s * (2.0 * R - s)).sum(axis=1)
        return out

    def loads(self, chosen: np.ndarray) -> Loads:
        """What these choices leave for the next slot's observations."""
        o, E = self.opts, self.inst.num_edges
        counts = np.zeros((E, 4))
        has = chosen >= 0
        place = np.where(has, o.place[np.where(has, chosen, 0)], 3)
        np.add.at(counts, (self.cell, place), 1.0)
        roots = np.zeros(3 * E)
        picked = chosen[has]
        np.add.at(roots, o.resource[picked].ravel(), self.root[picked].ravel())
        return Loads(counts, roots)


def slot_shares(inst: Instance, opts: Options, chosen: np.ndarray, allocation: str) -> np.ndarray:
    """(U, 3) the shares of ``allocation`` for one slot's choices; SLSQP failing falls back to the closed form,
    and shares that SLSQP's tolerance puts over 1 on a resource are scaled down to sum to 1."""
    try:
        x = shares(inst, opts, chosen, allocation)
    except SolverFailed:
        return shares(inst, opts, chosen, "closed")
    total = np.zeros((inst.num_edges, 3))
    np.add.at(total, inst.user_edge, x)
    return x / np.maximum(total, 1.0)[inst.user_edge]


def priced(opts: Options, chosen: np.ndarray, x: np.ndarray) -> float:
    """The slot's objective for the choices with shares ``x`` (U, 3): values less each cost over its share."""
    picked = chosen[chosen >= 0]
    cost = opts.cost[picked]
    share = x[opts.user[picked]]
    used = cost > 0
    paid = np.divide(cost, share, out=np.zeros_like(cost), where=used)
    return float(opts.value[picked].sum() - paid.sum()) + opts.refusal_value * int((chosen < 0).sum())


__all__ = [
    "ACTIONS",
    "CLOUD",
    "EDGE",
    "K_MAX",
    "LAYOUT",
    "LAYOUT_VERSION",
    "LOCAL",
    "OBSERVATION",
    "OBSERVATION_FIELDS",
    "OBS_CLIP",
    "PLACES",
    "REFUSE",
    "STATE",
    "STATE_FIELDS",
    "VALUE_UNIT",
    "Loads",
    "Slot",
    "action_of",
    "priced",
    "slot_shares",
]
