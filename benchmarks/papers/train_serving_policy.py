"""Train the serving policies that ship with edgeopt (edgeopt/data/policies/serving-{mappo,ippo}.pt).

    python benchmarks/papers/train_serving_policy.py [--steps N] [--seed 1] [--only mappo|ippo]
                                                     [--work benchmarks/papers/training] [--no-install]
                                                     [--set NAME=VALUE ...]

MAPPO and IPPO are trained at the same time in two processes (one CPU thread each: two cores), each by
``edgeopt.families.serving.solvers.mappo.train`` with the settings below, then copied into the package. The
learning curves (CSV and PNG) stay in ``--work``. The same seed gives the same files, bit for bit, on one
machine. Wall and CPU seconds of each training are printed (the target: under 60 minutes on two cores).

What they train on: episodes drawn from ``Scenarios()`` (edgeopt/families/serving/solvers/mappo.py): 1 to 4
cells of 3 to 12 users, 10 to 30 slots of 10 s, arrivals from the Poisson and the two MMPP processes fitted
to the Azure traces (never the traces themselves: benchmarks/serving.py replays windows of them as held-out
episodes), request rates 0.1 to 0.8, diurnal amplitude 0 to 0.5, each edge an RTX 4090, an A100 or a Jetson AGX
Orin, delay weight 0.01 to 0.5 per second and loading weight 0.02 to 2 per second (log-uniform), refusal
penalty 20 to 200, the cloud on or off (even odds).

How (measured in this repository's history of runs; docs/serving.md has the figures):

- ``IMITATION = 30``: the first 30 of the 150 updates clone forward-greedy's moves on the states the learner
  visits (its agreement with forward-greedy reaches 99.9 %; column ``ratio`` of the learning curve during
  those updates); PPO from scratch (``--set imitation=0``, 32 updates) stayed 36.6 objective points per
  request below myopic on the validation episodes, refusing and loading far too often (docs/serving.md);
- then PPO with ``reward="shaped"`` (the exact change of the objective plus the potential-based shaping of
  the backlog, docs/solvers.md), ``gamma=0.95`` per slot, ``gae_lambda=0.5``, ``lr=1e-4`` (in a development
  run at the default 5e-4, PPO moved the cloned policy 1-6.5 points per request below forward-greedy within
  20 updates), ``ppo_epoch=5, num_mini_batch=4`` as the offloading policies, validation every 5 updates.

Measured here: 16.0 min wall for both policies on two cores (1,253,990 decisions each); validation gain over
myopic +10.1 (MAPPO) and -12.4 (IPPO, whose last fifteen PPO updates collapsed the cloned policy) points per
request, against forward-greedy's +11.9.

``--set NAME=VALUE`` changes one of them for an ablation (``--set imitation=0``: no warm start); nothing is
installed then.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from common import training_main

HYPERPARAMETERS = {"gamma": 0.95, "gae_lambda": 0.5, "lr": 1e-4, "ppo_epoch": 5, "num_mini_batch": 4,
                   "eval_interval": 5}
#: Updates of the imitation warm start (``--set imitation=U`` changes it, 0: PPO from scratch).
IMITATION = 30
STEPS = 8192 * 150


def train_one(algorithm: str, steps: int, seed: int, work: Path, overrides: dict) -> dict:
    from edgeopt.families.serving.solvers.mappo import train

    overrides = dict(overrides)
    imitation = int(overrides.pop("imitation", IMITATION))
    started, cpu = time.perf_counter(), time.process_time()
    report = train(steps=steps, seed=seed, output=work / f"serving-{algorithm}.pt",
                   independent_critic=algorithm == "ippo", hyperparameters={**HYPERPARAMETERS, **overrides},
                   imitation=imitation, progress=False)
    return {"algorithm": algorithm, "wall": time.perf_counter() - started, "cpu": time.process_time() - cpu,
            "updates": report.updates, "decisions": report.decisions, "gain": report.final_validation_gain,
            "policy": str(report.policy), "size": report.policy.stat().st_size}


def main(argv=None) -> int:
    return training_main(argv, __doc__, steps=STEPS, train_one=train_one,
                         describe=lambda r: ("validation gain over myopic " + ("-" if r["gain"] is None else f"{r['gain']:+.3f}")
                                     + " points per request"))


if __name__ == "__main__":
    sys.exit(main())
