"""The offloading problem as a PettingZoo ``ParallelEnv``: one agent per user, one step per slot.

    from edgeopt.families.offloading.env import OffloadingEnv
    env = OffloadingEnv(edgeopt.load("instances/offloading/offload-medium-1.json"))    # an instance's slots
    env = OffloadingEnv(generator={"users": 30, "edges": 3}, episode_slots=10)       # a generated stream
    observations, infos = env.reset(seed=0)
    while env.agents:
        actions = {a: env.action_space(a).sample(observations[a]["action_mask"]) for a in env.agents}
        observations, rewards, terminations, truncations, infos = env.step(actions)

**Episodes.** With an instance, an episode is its T slots in order (then every agent is terminated). With
``generator`` (keyword arguments of the family's ``generate``, ``users`` among them), each episode is a new
instance of ``episode_slots`` slots generated with a seed drawn from the environment's random stream, which
``reset(seed=...)`` restarts (and which starts from seed 0 when never seeded); a generator parameter given
as a list (``"edges": [1, 2, 4]``; ``models`` excepted, whose list names models) is drawn from that list anew
for each episode; the episode ends by truncation (the stream is cut). The same seed gives the same episodes, observations and rewards.

**Agents, observations, actions, state**: observation.py (the layouts do not depend on the instance's size).
Each agent observes ``{"observation": float32 (OBSERVATION,), "action_mask": int8 (ACTIONS,)}``; its action
is an integer in ``Discrete(ACTIONS)``. An action the mask forbids is taken as refusal (``infos[agent]
["repaired"]`` says so), as are the edge users refused because their edge's GPU memory could not hold every
model asked for. ``state()`` is the fixed-size global state (``state_space``) for a centralised critic.

**Reward.** ``reward="team"`` (the default): every agent gets the slot's objective after the allocation stage
(``allocation``: "closed", the square-root rule, by default; "slsqp", the paper's stage two; or "equal"),
times ``reward_scale = 1 / (VALUE_UNIT * number of users)`` = 1 / (100 U): about the objective per user in
units of a refused request, so that the reward has the same size for 10 users or 1,000. Dividing the
episode's summed reward by ``reward_scale`` gives back the evaluator's objective of the same decisions
(``infos[agent]["objective"]`` also carries each slot's objective unscaled). ``reward="difference"``: each
agent gets what its own choice adds to the slot's objective against refusing its request, the others'
choices fixed (closed-form shares), divided by ``VALUE_UNIT``: a shaped reward whose policy gradient is the
team objective's (the subtracted term does not depend on the agent's action), with a far clearer signal per
agent; 0 for a user who asks nothing.

The environment also offers its arrays without the dictionaries (``reset_arrays``, ``step_arrays``), which
the trainer uses (same numbers, no per-agent dictionaries).
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from edgeopt.families.offloading.generate import generate
from edgeopt.families.offloading.instance import Instance
from edgeopt.families.offloading.observation import (
    ACTIONS,
    OBS_CLIP,
    OBSERVATION,
    REFUSE,
    STATE,
    VALUE_UNIT,
    Slot,
)
from edgeopt.families.offloading.plans import ALLOCATIONS

REWARDS = ("team", "difference")


class OffloadingEnv(ParallelEnv):
    """One agent per user of an offloading instance (or of a generated stream); one step per slot."""

    metadata: ClassVar[dict] = {"name": "edgeopt_offloading_v1", "render_modes": [], "is_parallelizable": True}

    def __init__(self, instance: Instance | None = None, *, generator: dict | None = None, episode_slots: int = 10,
                 allocation: str = "closed", reward: str = "team", render_mode: str | None = None):
        if (instance is None) == (generator is None):
            raise ValueError("give either an instance or generator parameters, not both or neither")
        if allocation not in ALLOCATIONS:
            raise ValueError(f"allocation must be one of {', '.join(ALLOCATIONS)}, got {allocation!r}")
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {', '.join(REWARDS)}, got {reward!r}")
        if render_mode is not None:
            raise ValueError("the offloading environment does not render")
        self.render_mode = None
        self.allocation, self.reward_kind = allocation, reward
        if instance is not None:
            if getattr(instance, "kind", None) != "offloading":
                raise ValueError(f"an offloading instance is needed, got {instance!r}")
            self.fixed, self.generator, self.episode_slots = instance, None, instance.slots
            names = list(instance.user_names)
        else:
            generator = dict(generator)
            for key in ("seed", "slots", "name"):
                if key in generator:
                    raise ValueError(f"generator parameter {key!r} is set by the environment")
            if int(episode_slots) < 1:
                raise ValueError(f"episode_slots must be at least 1, got {episode_slots}")
            if not isinstance(generator.get("users", 10), int):
                raise ValueError(f"generator users must be one integer (the agents), got {generator['users']!r}")
            self.drawn = sorted(k for k, v in generator.items() if k != "models" and isinstance(v, (list, tuple)))
            for k in self.drawn:
                if not generator[k]:
                    raise ValueError(f"generator {k}: an empty list of values to draw from")
            self.fixed, self.generator, self.episode_slots = None, generator, int(episode_slots)
            names = [f"u{i}" for i in range(int(generator.get("users", 10)))]
        self.possible_agents = names
        self.agents: list[str] = []
        self.state_space = spaces.Box(-OBS_CLIP, OBS_CLIP, (STATE,), np.float32)
        self._obs_spaces = {a: spaces.Dict({"observation": spaces.Box(-OBS_CLIP, OBS_CLIP, (OBSERVATION,), np.float32),
                                            "action_mask": spaces.Box(0, 1, (ACTIONS,), np.int8)}) for a in names}
        self._act_spaces = {a: spaces.Discrete(ACTIONS) for a in names}
        self._rng = np.random.default_rng(0)
        self.instance: Instance | None = None
        self.slot: Slot | None = None
        self.t = 0

    # -- spaces (the same objects at every call) ----------------------------------------------------------
    def observation_space(self, agent):
        return self._obs_spaces[agent]

    def action_space(self, agent):
        return self._act_spaces[agent]

    @property
    def num_users(self) -> int:
        return len(self.possible_agents)

    @property
    def reward_scale(self) -> float:
        """The team reward is the slot's objective times this: 1 / (VALUE_UNIT x number of users)."""
        return 1.0 / (VALUE_UNIT * self.num_users)

    # -- arrays -------------------------------------------------------------------------------------------
    def reset_arrays(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Start an episode; (observations (U, OBSERVATION) float32, masks (U, ACTIONS) bool)."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        if self.fixed is not None:
            self.instance = self.fixed
        else:
            params = {k: (v[int(self._rng.integers(len(v)))] if k in self.drawn else v)
                      for k, v in self.generator.items()}
            seed = int(self._rng.integers(2 ** 31 - 1))
            try:
                self.instance = generate(**params, slots=self.episode_slots, seed=seed)
            except ValueError as exc:
                shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
                raise ValueError(f"the generator parameters {shown} (seed {seed}) gave an invalid instance; "
                                 "change them: " + "; ".join(line.strip() for line in str(exc).splitlines())) from None
        self.t = 0
        self.slot = Slot(self.instance, 0)
        self.agents = self.possible_agents[:]
        return self.slot.observations(), self.slot.mask

    def step_arrays(self, actions) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, dict]:
        """Take every user's action (U,) in the current slot: (next observations, next masks, rewards (U,),
        whether the episode is over, info with the slot's ``objective``, the ``chosen`` options, ``repaired``
        (U,) and the slot ``t``). After the last slot the observations are those of users who ask nothing."""
        if self.slot is None or not self.agents:
            raise RuntimeError("step called before reset or after the episode ended")
        slot = self.slot
        chosen, repaired = slot.decide(actions)
        objective = slot.objective(chosen, self.allocation)
        if self.reward_kind == "team":
            rewards = np.full(self.num_users, objective * self.reward_scale)
        else:
            rewards = slot.differences(chosen) / VALUE_UNIT
        info = {"objective": objective, "chosen": chosen, "repaired": repaired, "t": self.t}
        self.t += 1
        done = self.t >= self.instance.slots
        if done:
            self.slot = None
            self.agents = []
            obs = np.zeros((self.num_users, OBSERVATION), np.float32)
            mask = np.zeros((self.num_users, ACTIONS), bool)
            mask[:, REFUSE] = True
        else:
            self.slot = Slot(self.instance, self.t, slot.loads(chosen))
            obs, mask = self.slot.observations(), self.slot.mask
        return obs, mask, rewards, done, info

    # -- PettingZoo ---------------------------------------------------------------------------------------
    def _dicts(self, obs: np.ndarray, mask: np.ndarray) -> dict:
        m = mask.astype(np.int8)
        return {a: {"observation": obs[i], "action_mask": m[i]} for i, a in enumerate(self.possible_agents)}

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, mask = self.reset_arrays(seed)
        return self._dicts(obs, mask), {a: {} for a in self.agents}

    def step(self, actions: dict):
        index = np.full(self.num_users, REFUSE, dtype=np.int64)
        for i, a in enumerate(self.possible_agents):
            if a in actions:
                index[i] = int(actions[a])
        obs, mask, rewards, done, info = self.step_arrays(index)
        names = self.possible_agents
        over_by = "truncated" if self.fixed is None else "terminated"
        terminations = {a: done and over_by == "terminated" for a in names}
        truncations = {a: done and over_by == "truncated" for a in names}
        infos = {a: {"objective": info["objective"], "repaired": bool(info["repaired"][i])}
                 for i, a in enumerate(names)}
        return (self._dicts(obs, mask), {a: float(rewards[i]) for i, a in enumerate(names)}, terminations,
                truncations, infos)

    def state(self) -> np.ndarray:
        """The global state of the current slot (STATE,) float32 (zeros once the episode is over)."""
        if self.slot is None:
            return np.zeros(STATE, np.float32)
        return self.slot.state()

    def render(self):
        return None

    def close(self):
        """Nothing to release: the environment holds no window, file or process (PettingZoo's API asks for it)."""

