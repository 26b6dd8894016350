"""The serving problem as a PettingZoo ``ParallelEnv``: every edge and every user is an agent; in each step the
tick's movers act side by side.

    from edgeopt.families.serving.env import ServingEnv
    env = ServingEnv(edgeopt.load("instances/serving/serving-small-1.json"))  # an instance's slots, in order
    env = ServingEnv(generator={"users": 12, "edges": 2, "slots": 24})     # a new generated instance per episode
    observations, infos = env.reset(seed=0)
    while env.agents:
        actions = {a: env.action_space(a).sample(observations[a]["action_mask"]) for a in env.agents}
        observations, rewards, terminations, truncations, infos = env.step(actions)

**Agents**: ``edge_0 .. edge_{E-1}`` and ``user_0 .. user_{U-1}`` (``possible_agents``, fixed: in generator
mode ``users``, ``edges`` and ``models`` fix them).

**Ticks** (board.py's ``SlotPlay``): one ``step`` is one tick of the current slot. A slot's first tick is
the edges' (each holds its models or loads one), even in a slot nobody asks in; then the requesting users
take turns, one per cell per tick (cells side by side), in the order of their best stand-alone value. Only
the tick's movers decide; every other agent must pass (action 0). When the slot's last tick is played, its
decision is committed (solvers/online.py's ``Episode``: checked and carried forward as the evaluator does)
and the next slot starts in the same step.

**Observation** of an agent: ``{"observation": float32 (ROWS, ROW_INPUT), "action_mask": int8 (ROWS,)}``.
A mover's rows are its move's option rows (board.py's ``ROW_FIELDS`` then ``CONTEXT_FIELDS``): for an edge
``hold`` (row 0) then ``load m`` per model it may load; for a user ``refuse`` (row 0) then its usable options;
zeros past them, and the mask says which rows are allowed. A non-mover's observation is zeros with only row 0
allowed. ``ROWS`` = max(1 + models, 1 + 3 x configurations): the instance's configurations, or in generator
mode every configuration of the catalog's models the generator may use (at most ``max_configs`` each). The
action is a row in ``Discrete(ROWS)``; a row the mask forbids, a missing action of a mover, or any action
other than 0 of a non-mover is taken as row 0 (hold / refuse / pass) and ``infos[agent]["repaired"]`` is
True. ``infos[agent]`` after a step: ``t`` (the slot of the step's tick), ``unit`` (below), ``moved`` (the
agent was a mover) and ``repaired``. ``state()``: every cell's global state (board.py's ``STATE_FIELDS``) at
the current tick, concatenated cell by cell, (E x STATE,) float32.

**Rewards**: a mover gets its move's exact reward (the change of its cell's slot objective, over the unit:
``SlotPlay.apply``); the other agents get 0, except that the backlog a cell carries into a slot, whose charge
``start_cost / unit`` is the consequence of the moves before, goes to the cell's edge agent in the step that
started the slot (for the first slot, which ``reset`` starts, in the first step). The rewards are in the
episode's unit, ``infos[agent]["unit"]`` (and ``env.unit``), fixed before any request (board.py's
``episode_unit``: the refusal penalty). So over an episode the rewards sum to (the evaluator's objective of
the plan the environment committed + refusal_penalty x requests) / unit.

**Discounting**: the environment returns undiscounted rewards; the learner discounts. The shipped serving
policies (solvers/mappo.py) were trained with gamma 0.95 per slot (moves within a slot not discounted against
each other); ``infos[agent]["t"]`` gives the slot of each step.

**Episodes.** With an instance, an episode is its slots in order; after the last slot every agent is
terminated (never truncated). With ``generator`` (keyword arguments of ``edgeopt.generate("serving", ...)``;
``seed`` and ``name`` are set by the environment), each episode is a new instance, played the same way, with
a seed drawn from the environment's random stream (``reset(seed=...)`` restarts it; seed 0 when never
seeded). The same seed gives the same episodes, observations and rewards. ``env.episode`` is the episode's
``Episode`` (its ``chosen`` and ``loaded`` are the committed plan: ``solvers.exact.assemble`` makes it a
Solution).
"""
from __future__ import annotations

import inspect
from typing import ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from edgeopt import catalog
from edgeopt.families.serving.board import ROW_INPUT, STATE, Memory, Move, SlotPlay
from edgeopt.families.serving.generate import generate
from edgeopt.families.serving.instance import Instance
from edgeopt.families.serving.solvers.online import Episode

#: Who the committed decisions are from, in check_decision's errors.
WHO = "the serving environment"


def _row(action) -> int | None:
    """An action as a row index (None: not one integer)."""
    if isinstance(action, (bool, np.bool_)):
        return None
    if isinstance(action, (int, np.integer)):
        return int(action)
    if isinstance(action, np.ndarray) and action.shape == () and np.issubdtype(action.dtype, np.integer):
        return int(action)
    return None


class ServingEnv(ParallelEnv):
    """Every edge and user of a serving instance (or of a generated stream) is an agent; a step is one tick of
    a slot, its movers acting side by side (module docstring)."""

    metadata: ClassVar[dict] = {"name": "edgeopt_serving_v1", "render_modes": [], "is_parallelizable": True}

    def __init__(self, instance: Instance | None = None, *, generator: dict | None = None,
                 render_mode: str | None = None):
        if (instance is None) == (generator is None):
            raise ValueError("give either an instance or generator parameters, not both or neither")
        if render_mode is not None:
            raise ValueError(f"render_mode: the serving environment does not render (render_modes: none), got "
                             f"{render_mode!r}")
        self.render_mode = None
        if instance is not None:
            if getattr(instance, "kind", None) != "serving":
                raise ValueError(f"instance: a serving instance is needed, got {instance!r}")
            self.fixed, self.generator = instance, None
            probe = instance
            option_rows = 1 + 3 * instance.num_configs
        else:
            if not isinstance(generator, dict):
                raise ValueError(f"generator: a dict of edgeopt.generate('serving', ...) keyword arguments, got "
                                 f"{generator!r}")
            generator = dict(generator)
            known = [p for p in inspect.signature(generate).parameters if p not in ("seed", "name")]
            for key in generator:
                if key in ("seed", "name"):
                    raise ValueError(f"generator parameter {key!r} is set by the environment")
                if key not in known:
                    raise ValueError(f"generator parameter {key!r} is not one of edgeopt.generate('serving')'s: "
                                     f"{', '.join(known)}")
            self.fixed, self.generator = None, generator
            probe = self._generate(0)  # checks the parameters; fixes the agents
            limit = generator.get("max_configs", inspect.signature(generate).parameters["max_configs"].default)
            per_model = [len(m["configs"]) if limit is None else min(int(limit), len(m["configs"]))
                         for m in catalog.text_to_video()["models"]]
            option_rows = 1 + 3 * sum(per_model)
        self.num_edges, self.num_users, self.num_models = probe.num_edges, probe.num_users, probe.num_models
        self.rows = max(1 + self.num_models, option_rows)
        self.edge_agents = [f"edge_{e}" for e in range(self.num_edges)]
        self.user_agents = [f"user_{u}" for u in range(self.num_users)]
        self.possible_agents = self.edge_agents + self.user_agents
        self.agents = []
        self._obs_spaces = {a: spaces.Dict({
            "observation": spaces.Box(-np.inf, np.inf, (self.rows, ROW_INPUT), np.float32),
            "action_mask": spaces.Box(0, 1, (self.rows,), np.int8)}) for a in self.possible_agents}
        self._act_spaces = {a: spaces.Discrete(self.rows) for a in self.possible_agents}
        self.state_space = spaces.Box(-np.inf, np.inf, (self.num_edges * STATE,), np.float32)
        self._rng = np.random.default_rng(0)
        self.instance: Instance | None = None
        self.episode: Episode | None = None
        self.memory: Memory | None = None
        self.play: SlotPlay | None = None
        self.move: Move | None = None
        self.unit = 1.0
        self._pending = np.zeros(self.num_edges)  # the first slot's carried-backlog charges, for the first step

    # -- spaces (the same objects at every call) ----------------------------------------------------------
    def observation_space(self, agent):
        return self._obs_spaces[agent]

    def action_space(self, agent):
        return self._act_spaces[agent]

    # -- episodes -------------------------------------------------------------------------------------------
    def _generate(self, seed: int) -> Instance:
        try:
            inst = generate(**self.generator, seed=seed)
        except (ValueError, TypeError) as exc:
            shown = ", ".join(f"{k}={v!r}" for k, v in self.generator.items())
            raise ValueError(f"generator: the parameters {shown} (seed {seed}) gave no valid instance; change them: "
                             + "; ".join(line.strip() for line in str(exc).splitlines())) from None
        if getattr(self, "rows", None) is not None:  # after the probe: the agents are fixed
            shape = (inst.num_edges, inst.num_users, inst.num_models)
            if shape != (self.num_edges, self.num_users, self.num_models):
                raise RuntimeError(f"generator: seed {seed} gave {shape} edges, users, models, not the "
                                   f"{(self.num_edges, self.num_users, self.num_models)} of the agents")
        return inst

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        if self.fixed is not None:
            self.instance = self.fixed
        else:
            self.instance = self._generate(int(self._rng.integers(2 ** 31 - 1)))
        self.episode, self.memory = Episode(self.instance), Memory()
        self.agents = self.possible_agents[:]
        self._start_slot()
        self.unit = float(self.play.unit)
        self._pending = self.play.start_cost / self.unit
        infos = {a: {"t": 0, "unit": self.unit} for a in self.agents}
        return self._observations(), infos

    def _start_slot(self) -> None:
        self.play = SlotPlay(self.episode.view(), self.memory)
        self.move = self.play.rows()

    # -- what an agent sees ---------------------------------------------------------------------------------
    def _names(self, move: Move) -> list[str]:
        return [f"{move.kind}_{int(i)}" for i in move.agent]

    def _observations(self) -> dict:
        out = {}
        for a in self.possible_agents:
            obs = np.zeros((self.rows, ROW_INPUT), np.float32)
            mask = np.zeros(self.rows, np.int8)
            mask[0] = 1
            out[a] = {"observation": obs, "action_mask": mask}
        if self.move is not None:
            move = self.move
            for b, name in enumerate(self._names(move)):
                rows = move.mover == b
                n = int(rows.sum())
                out[name]["observation"][:n] = move.features[rows]
                out[name]["action_mask"][:n] = move.allowed[rows]
        return out

    def state(self) -> np.ndarray:
        """Every cell's global state at the current tick, cell by cell, (E x STATE,) float32 (zeros once the
        episode is over)."""
        if self.play is None or self.move is None:
            return np.zeros(self.num_edges * STATE, np.float32)
        return self.play.state(np.arange(self.num_edges)).reshape(-1).astype(np.float32)

    # -- acting ---------------------------------------------------------------------------------------------
    def step(self, actions: dict):
        if not self.agents:
            raise RuntimeError("the episode is over (or never started): call reset()")
        actions = {} if actions is None else actions
        unknown = sorted(set(actions) - set(self.agents))
        if unknown:
            raise ValueError(f"actions for agents that are not in the episode: {', '.join(map(str, unknown))}")
        play, move = self.play, self.move
        names = self._names(move)
        B = len(names)
        counts = np.bincount(move.mover, minlength=B)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        picked = np.zeros(B, dtype=np.int64)
        repaired = dict.fromkeys(self.agents, False)
        for b, name in enumerate(names):
            row = _row(actions.get(name))
            if row is None or not 0 <= row < counts[b] or not move.allowed[starts[b] + row]:
                repaired[name], row = True, 0
            picked[b] = starts[b] + row
        movers = set(names)
        for a, action in actions.items():
            if a not in movers and action is not None and _row(action) != 0:
                repaired[a] = True
        t, unit = self.episode.t, float(play.unit)
        rewards = dict.fromkeys(self.agents, 0.0)
        for name, r in zip(names, play.apply(move, picked)):
            rewards[name] += float(r)
        for e, charge in enumerate(self._pending):
            rewards[self.edge_agents[e]] += float(charge)
        self._pending = np.zeros(self.num_edges)
        over = False
        if play.done:
            self.episode.commit(play.decision(), WHO)
            play.remember()
            if self.episode.done:
                over, self.move = True, None
            else:
                self._start_slot()
                for e, cost in enumerate(self.play.start_cost):
                    rewards[self.edge_agents[e]] += float(cost) / unit
        else:
            self.move = play.rows()
        self.unit = unit
        observations = self._observations()
        terminations = dict.fromkeys(self.agents, over)
        truncations = dict.fromkeys(self.agents, False)
        infos = {a: {"t": t, "unit": unit, "moved": a in movers, "repaired": repaired[a]} for a in self.agents}
        if over:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def render(self):
        return None

    def close(self):
        """Nothing to release: the environment holds no window, file or process (PettingZoo's API asks for it)."""


__all__ = ["ServingEnv"]
