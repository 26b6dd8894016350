"""The offloading problem as a PettingZoo ``AECEnv``: one agent per user, agents acting in turns.

    from edgeopt.families.offloading.env import OffloadingEnv
    env = OffloadingEnv(edgeopt.load("instances/offloading/offload-medium-1.json"))    # an instance's slots
    env = OffloadingEnv(generator={"users": 30, "edges": [1, 2, 3], "shuffle": True})  # a generated stream
    env.reset(seed=0)
    for agent in env.agent_iter():
        observation, reward, terminated, truncated, info = env.last()
        action = None if terminated or truncated else env.action_space(agent).sample(observation["action_mask"])
        env.step(action)

**Turns** (observation.py): slot by slot, the users of each cell who ask take turns, in sweeps (the first
places every request, later ones revise; a revision sweep that changes nothing ends the slot). Cells do not
interact, so the environment runs a tick's movers (one per cell) one after the other. Users who ask nothing
in a slot have no turn in it.

**Observation** of an agent: ``{"observation": float32 (rows, ROW_INPUT), "action_mask": int8 (rows,)}``:
its option rows at the current choices (row 0 refuses; then its options in canonical order; zeros past
them) and which are allowed. ``rows`` is 1 + 3 x the configurations an instance can have: the instance's
own, or for a generated stream every configuration of the catalog's models. The action is a row index in
``Discrete(rows)``; a row the mask forbids is taken as refusal (``infos[agent]["repaired"]``).

**Reward** of a turn: the exact change of the slot's objective (optimal shares) the mover's choice makes,
divided by the slot's ``unit`` (observation.py), to the mover; the others get 0 for that turn. A slot's
rewards sum to its objective (plus every request's refusal penalty) over ``unit``; ``infos[agent]
["objective"]`` carries the slot's objective after each turn, unscaled. ``state()``: the slot's global state.

**Episodes.** With an instance, an episode is its slots in order (then every agent is terminated). With
``generator`` (keyword arguments of the family's ``generate``; ``users`` fixed, the agents; a list-valued
parameter other than ``models`` and ``edge_gpus`` is drawn anew for each episode), each episode is a new
instance of ``episode_slots`` slots with a seed from the environment's random stream (``reset(seed=...)``
restarts it; seed 0 when never seeded); the episode ends by truncation. The same seed gives the same
episodes, observations and rewards.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv

from edgeopt import catalog
from edgeopt.families.offloading.generate import generate
from edgeopt.families.offloading.instance import Instance
from edgeopt.families.offloading.observation import ROW_INPUT, STATE, SWEEPS, Board

#: Generator parameters whose list value is one value (names), not a list to draw from.
LISTS = ("models", "edge_gpus")


class OffloadingEnv(AECEnv):
    """One agent per user of an offloading instance (or of a generated stream); agents act in turns."""

    metadata: ClassVar[dict] = {"name": "edgeopt_offloading_v2", "render_modes": [], "is_parallelizable": False}

    def __init__(self, instance: Instance | None = None, *, generator: dict | None = None, episode_slots: int = 2,
                 sweeps: int = SWEEPS, render_mode: str | None = None):
        super().__init__()
        if (instance is None) == (generator is None):
            raise ValueError("give either an instance or generator parameters, not both or neither")
        if render_mode is not None:
            raise ValueError("the offloading environment does not render")
        if isinstance(sweeps, bool) or not isinstance(sweeps, int) or not 1 <= sweeps <= 64:
            raise ValueError(f"sweeps must be an integer between 1 and 64, got {sweeps!r}")
        self.render_mode, self.sweeps = None, sweeps
        if instance is not None:
            if getattr(instance, "kind", None) != "offloading":
                raise ValueError(f"an offloading instance is needed, got {instance!r}")
            self.fixed, self.generator, self.episode_slots = instance, None, instance.slots
            names = list(instance.user_names)
            rows = 1 + 3 * instance.num_configs
        else:
            generator = dict(generator)
            for key in ("seed", "slots", "name"):
                if key in generator:
                    raise ValueError(f"generator parameter {key!r} is set by the environment")
            if isinstance(episode_slots, bool) or not isinstance(episode_slots, int) or not 1 <= episode_slots <= 1000:
                raise ValueError(f"episode_slots must be an integer between 1 and 1000, got {episode_slots!r}")
            users = generator.get("users", 10)
            if isinstance(users, bool) or not isinstance(users, int) or not 1 <= users <= 10_000:
                raise ValueError(f"generator users must be one integer between 1 and 10,000 (the agents), got {users!r}")
            self.drawn = sorted(k for k, v in generator.items() if k not in LISTS and isinstance(v, (list, tuple)))
            for k in self.drawn:
                if not generator[k]:
                    raise ValueError(f"generator {k}: an empty list of values to draw from")
            self.fixed, self.generator, self.episode_slots = None, generator, episode_slots
            names = [f"u{i}" for i in range(users)]
            rows = 1 + 3 * sum(len(m["configs"]) for m in catalog.text_to_video()["models"])
        self.rows = rows
        self.possible_agents = names
        self.agents = []
        self._index = {a: i for i, a in enumerate(names)}
        self._obs_spaces = {a: spaces.Dict({"observation": spaces.Box(-np.inf, np.inf, (rows, ROW_INPUT), np.float32),
                                            "action_mask": spaces.Box(0, 1, (rows,), np.int8)}) for a in names}
        self._act_spaces = {a: spaces.Discrete(rows) for a in names}
        self.state_space = spaces.Box(-np.inf, np.inf, (STATE,), np.float32)
        self._rng = np.random.default_rng(0)
        self.instance: Instance | None = None
        self.board: Board | None = None
        self.t = 0
        self._queue: list[int] = []

    # -- spaces (the same objects at every call) ----------------------------------------------------------
    def observation_space(self, agent):
        return self._obs_spaces[agent]

    def action_space(self, agent):
        return self._act_spaces[agent]

    # -- episodes -------------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        if self.fixed is not None:
            self.instance = self.fixed
        else:
            params = {k: (v[int(self._rng.integers(len(v)))] if k in self.drawn else v)
                      for k, v in self.generator.items()}
            drawn_seed = int(self._rng.integers(2 ** 31 - 1))
            try:
                self.instance = generate(**params, slots=self.episode_slots, seed=drawn_seed)
            except ValueError as exc:
                shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
                raise ValueError(f"the generator parameters {shown} (seed {drawn_seed}) gave an invalid instance; "
                                 "change them: " + "; ".join(line.strip() for line in str(exc).splitlines())) from None
        self.agents = self.possible_agents[:]
        self.rewards = dict.fromkeys(self.agents, 0.0)
        self._cumulative_rewards = dict.fromkeys(self.agents, 0.0)
        self.terminations = dict.fromkeys(self.agents, False)
        self.truncations = dict.fromkeys(self.agents, False)
        self.infos = {a: {} for a in self.agents}
        self.t = 0
        self._start_slot()
        self._next_mover()

    def _start_slot(self) -> None:
        self.board = Board([(self.instance, self.t)], sweeps=self.sweeps)
        self._queue = []

    def _next_mover(self) -> None:
        """Select the next mover: the rest of the tick's movers, else the next tick, sweep or slot; after the
        last slot every agent's episode is over."""
        while not self._queue:
            if self.board.done:
                self.t += 1
                if self.t >= self.instance.slots:
                    over = self.truncations if self.fixed is None else self.terminations
                    for a in self.agents:
                        over[a] = True
                    self.agent_selection = self.agents[0]
                    return
                self._start_slot()
                continue
            self._queue = list(self.board.movers())
            if not self._queue:  # nobody with an option: the board ends
                self.board.sweep = self.board.sweeps
        self.agent_selection = self.possible_agents[int(self.board.p_user[self._queue[0]])]

    # -- what an agent sees ---------------------------------------------------------------------------------
    def _position(self, agent) -> int:
        """The agent's position on the current board (-1: it asks nothing in this slot)."""
        users = self.board.p_user
        i = int(np.searchsorted(users, self._index[agent]))
        return i if i < users.size and users[i] == self._index[agent] else -1

    def observe(self, agent):
        obs = np.zeros((self.rows, ROW_INPUT), np.float32)
        mask = np.zeros(self.rows, np.int8)
        pos = self._position(agent) if self.board is not None and not self.board.done else -1
        if pos < 0:
            mask[0] = 1  # nothing to decide: refusal (idle) only
            return {"observation": obs, "action_mask": mask}
        rows = self.board.rows(np.array([pos]))
        obs[rows["slot"]] = rows["features"]
        mask[rows["slot"]] = rows["allowed"]
        return {"observation": obs, "action_mask": mask}

    def state(self) -> np.ndarray:
        """The current slot's global state (STATE,) float32 (zeros once the episode is over)."""
        if self.board is None or not self.agents or self.board.done:
            return np.zeros(STATE, np.float32)
        return self.board.state()[0]

    # -- acting ---------------------------------------------------------------------------------------------
    def step(self, action) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        self._cumulative_rewards[agent] = 0.0
        pos = self._queue.pop(0)
        rows = self.board.rows(np.array([pos]))
        n = rows["slot"].size
        a = -1 if action is None else int(action)
        repaired = not (0 <= a < n) or not rows["allowed"][a]
        if repaired:
            a = 0  # refusal
        reward = float(rows["reward"][a])
        self.board.move(np.array([pos]), np.array([rows["option"][a]]))
        if not self._queue:
            self.board.advance()
        self._clear_rewards()
        self.rewards[agent] = reward
        self._accumulate_rewards()
        objective = float(self.board.objective_parts()[0])
        for a_ in self.agents:
            self.infos[a_] = {"objective": objective, "t": self.t}
        self.infos[agent]["repaired"] = repaired
        self._next_mover()

    def render(self):
        return None

    def close(self):
        """Nothing to release: the environment holds no window, file or process (PettingZoo's API asks for it)."""
