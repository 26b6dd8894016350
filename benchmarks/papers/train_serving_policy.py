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

Hyperparameters (``HYPERPARAMETERS``): the reference defaults of MAPPOConfig except ``gamma=0.95`` per slot
(a move that leaves backlog answers for what it costs in the slots after), ``ppo_epoch=5, num_mini_batch=4``
(as the offloading policies) and ``eval_interval=10``.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from common import training_main

HYPERPARAMETERS = {"gamma": 0.95, "ppo_epoch": 5, "num_mini_batch": 4, "eval_interval": 10}
STEPS = 8192 * 150


def train_one(algorithm: str, steps: int, seed: int, work: Path, overrides: dict) -> dict:
    from edgeopt.families.serving.solvers.mappo import train

    started, cpu = time.perf_counter(), time.process_time()
    report = train(steps=steps, seed=seed, output=work / f"serving-{algorithm}.pt",
                   independent_critic=algorithm == "ippo", hyperparameters={**HYPERPARAMETERS, **overrides},
                   progress=False)
    return {"algorithm": algorithm, "wall": time.perf_counter() - started, "cpu": time.process_time() - cpu,
            "updates": report.updates, "decisions": report.decisions, "gain": report.final_validation_gain,
            "policy": str(report.policy), "size": report.policy.stat().st_size}


def main(argv=None) -> int:
    return training_main(argv, __doc__, steps=STEPS, train_one=train_one,
                         describe=lambda r: ("validation gain over myopic " + ("-" if r["gain"] is None else f"{r['gain']:+.3f}")
                                     + " points per request"))


if __name__ == "__main__":
    sys.exit(main())
