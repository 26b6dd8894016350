"""offload-enumerate: every combination of the requesting users' choices, slot by slot (tiny instances only).

Each combination (one option or refusal per requesting user) implies the models that must be loaded; a
combination whose models do not fit an edge's memory is infeasible. The rest are priced like
:func:`plans.slot_value` (values, refusals, and per resource the square of the summed square roots of the
costs: the square-root rule), in vectorised blocks, and the best is kept. With ``split`` (the default) the
independent parts of a slot (parts.py: users that share no resource and no edge memory) are enumerated
apart, which is exact and turns a product of their counts into a sum; ``split=False`` enumerates each slot
whole. Complete enumeration proves the optimum; a slot with more than ``max_combinations`` combinations
(summed over its parts) is refused before anything is priced.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from edgeopt.families.offloading.instance import EDGE, Instance
from edgeopt.families.offloading.plans import plan, slot_value
from edgeopt.families.offloading.solvers.parts import parts_of
from edgeopt.registry import register_solver
from edgeopt.result import Result, Status
from edgeopt.solver import Options, Solver, deadline, option

#: Combinations priced per vectorised block, at most.
BLOCK = 65_536
#: (combination, user) cells per block, at most (about 100 bytes each): a block of many users (users that can be
#: served nowhere add none to the count but a column each) is cut shorter, so that its memory and the time
#: between two looks at the clock stay bounded; with ``split=False``, 3,009 such users took 4.7 GB and 34 s
#: past a 3-s limit before this.
BLOCK_CELLS = 1 << 21


def combinations(inst: Instance, t: int, users: np.ndarray | None = None) -> int:
    """The number of combinations of slot ``t`` (of the requesting users at positions ``users`` of
    ``inst.options(t).users``, default all): the product over those users of (options + 1)."""
    opts = inst.options(t)
    pos = np.arange(opts.users.size) if users is None else users
    return int(np.prod([len(opts.of_user[int(opts.users[i])]) + 1 for i in pos], dtype=object))


def count_text(n: int) -> str:
    """A combination count for people: exact up to 10^12, else like ``1.39e+305`` (beyond any float)."""
    if n < 10 ** 12:
        return str(n)
    # Not str(n): Python refuses to write an integer of more than 4,300 digits (thousands of users have more
    # combinations than that), and the message named nothing.
    exponent = int((n.bit_length() - 1) * math.log10(2))  # the number of digits less one, give or take one
    while 10 ** exponent > n:
        exponent -= 1
    while 10 ** (exponent + 1) <= n:
        exponent += 1
    lead = str(n // 10 ** (exponent - 2))  # the first three digits
    return f"{lead[0]}.{lead[1:3]}e+{exponent}"


def groups_of(inst: Instance, t: int, split: bool) -> list[np.ndarray]:
    """The user positions enumerated together in slot ``t``: each independent part, or the whole slot."""
    if not split:
        return [np.arange(inst.options(t).users.size)] if inst.options(t).users.size else []
    return [part.pos for part in parts_of(inst, t, split=True)]


def best_of_group(inst: Instance, t: int, pos: np.ndarray, until: float | None = None):
    """(chosen, complete): the best choice (per user at ``pos`` an option index, -1 to refuse) of slot ``t``'s
    users at positions ``pos`` over every combination (all other users refused and sharing nothing with
    them), or over those priced before ``until`` when ``complete`` is False."""
    opts = inst.options(t)
    U = pos.size
    if U == 0 or opts.num_options == 0:  # nobody asks, or nobody can be served: all refused
        return np.full(U, -1, dtype=np.int64), True
    # The group's options, numbered 0..O-1, with only the resources and (edge, model) pairs they use, numbered
    # from 0 too: a slot's 3E resources and E x M pairs can number 10^7, and a block of combinations by all
    # of them (2,001 x 10^7) ran out of memory.
    mine = np.concatenate([opts.of_user[int(opts.users[i])] for i in pos]).astype(np.int64)
    if mine.size == 0:  # no one in the group can be served: the one combination refuses them all
        return np.full(U, -1, dtype=np.int64), True
    M = inst.num_models
    local = np.full(opts.num_options, -1, dtype=np.int64)
    local[mine] = np.arange(mine.size)
    resources, resource = np.unique(opts.resource[mine], return_inverse=True)
    resource = resource.reshape(mine.size, 3)
    on_edge = opts.place[mine] == EDGE
    pairs, pair = np.unique(opts.edge[mine] * M + opts.model[mine], return_inverse=True)
    pair = pair.reshape(-1)
    edges, pair_edge = np.unique(pairs // M, return_inverse=True)
    memory_of = np.zeros((pairs.size, edges.size))  # (P, Q) each pair's model's memory on its edge
    memory_of[np.arange(pairs.size), pair_edge.reshape(-1)] = inst.model_memory_gb[pairs % M]
    capacity = inst.edge_memory_gb[edges] * (1 + 1e-9)
    value_of, roots = opts.value[mine], np.sqrt(opts.cost[mine])
    # Per user its choices: refusal (-1) first, then its options. Combination c is a mixed-radix number.
    choices = [np.concatenate([[-1], local[opts.of_user[int(opts.users[i])]]]).astype(np.int64) for i in pos]
    radix = np.array([c.size for c in choices], dtype=np.int64)
    total = combinations(inst, t, pos)
    R = resources.size
    best_value, best = -np.inf, np.full(U, -1, dtype=np.int64)
    start = 0
    rows_per_block = max(1, min(BLOCK, BLOCK_CELLS // max(U, R, pairs.size)))
    while start < total:
        n = min(rows_per_block, total - start)
        rest = np.arange(start, start + n, dtype=np.int64)  # total <= max_combinations: fits in int64
        pick = np.empty((n, U), dtype=np.int64)
        for i in range(U):
            pick[:, i] = choices[i][rest % radix[i]]
            rest //= radix[i]
        served = pick >= 0
        o = np.where(served, pick, 0)
        value = np.where(served, value_of[o], opts.refusal_value).sum(axis=1)
        s = np.zeros((n, R))
        rows = np.broadcast_to(np.arange(n)[:, None, None], (n, U, 3))
        np.add.at(s, (rows, resource[o]), np.where(served[:, :, None], roots[o], 0.0))
        value -= (s ** 2).sum(axis=1)
        loaded = np.zeros((n, pairs.size), dtype=bool)
        r_idx, u_idx = np.nonzero(served & on_edge[o])
        loaded[r_idx, pair[o[r_idx, u_idx]]] = True
        feasible = (loaded.astype(float) @ memory_of <= capacity).all(axis=1)
        value = np.where(feasible, value, -np.inf)
        k = int(np.argmax(value))  # the first of equal values: deterministic
        if value[k] > best_value:
            best_value, best = float(value[k]), np.where(pick[k] >= 0, mine[o[k]], -1)
        start += n
        if until is not None and time.perf_counter() >= until and start < total:
            return best, False
    return best, True


@dataclass(frozen=True)
class EnumerateOptions(Options):
    #: Largest number of combinations a slot may have (a slot with more is refused: ValueError).
    max_combinations: int = option(10_000_000, at_least=1)
    #: Enumerate a slot's independent parts apart (exact; the count becomes a sum over the parts).
    split: bool = True


@register_solver
class Enumerate(Solver):
    """Exact brute force: every combination of the requesting users' options (or refusal) per slot, with the
    models it needs loaded, priced by the square-root rule; for tiny instances only (``max_combinations`` per
    slot)."""

    name, family, Options = "offload-enumerate", "offloading", EnumerateOptions
    exact = gives_bound = True

    def run(self, instance, options, *, time_limit, seed, started):
        until = deadline(started, time_limit)
        groups = [groups_of(instance, t, options.split) for t in range(instance.slots)]
        counts = [sum(combinations(instance, t, g) for g in groups[t]) for t in range(instance.slots)]
        too_many = [t for t, c in enumerate(counts) if c > options.max_combinations]
        if too_many:
            t = too_many[0]
            raise ValueError(f"option max_combinations: slot {t} has {count_text(counts[t])} combinations"
                             f"{' (summed over its independent parts)' if options.split else ''}, more than "
                             f"max_combinations={options.max_combinations}; offload-enumerate is for tiny instances "
                             "(use offload-miqp or offload-oa)")
        build = time.perf_counter() - started
        t0 = time.perf_counter()
        chosen = [np.full(instance.options(t).users.size, -1, dtype=np.int64) for t in range(instance.slots)]
        complete = True
        for t in range(instance.slots):
            for pos in groups[t]:
                if not complete:  # the time limit passed: the remaining users are refused
                    break
                chosen[t][pos], complete = best_of_group(instance, t, pos, until)
        value = float(sum(slot_value(instance.options(t), chosen[t]) for t in range(instance.slots)))
        if complete:
            status, bound = Status.OPTIMAL, value
            raw = f"enumerated {sum(counts)} combination(s) in {instance.slots} slot(s)"
        else:
            status, bound = Status.TIME_LIMIT, None
            raw = "stopped by the time limit before every combination was priced (users not reached are refused)"
        return Result(status=status, solver=self.name, objective=value, bound=bound,
                      gap=0.0 if complete else None, solution=plan(instance, chosen), build_seconds=build,
                      solve_seconds=time.perf_counter() - t0, raw_status=raw,
                      extra={"combinations": sum(counts)})
