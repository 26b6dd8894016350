"""Train the offloading policies that ship with edgeopt (edgeopt/data/policies/offloading-{mappo,ippo}.pt).

    python benchmarks/papers/train_offloading_policy.py [--steps 32000] [--seed 1] [--only mappo|ippo]
                                                        [--work benchmarks/papers/training] [--no-install]

MAPPO and IPPO are trained at the same time in two processes (one CPU thread each: two cores), each by
``edgeopt.families.offloading.solvers.mappo.train`` with the settings below, then copied into the package.
The learning curves (CSV and PNG) stay in ``--work``. The same seed gives the same files, bit for bit, on
one machine. Wall and CPU seconds of each training are printed (the target: under 30 minutes).

What they train on (``TRAINING``): streams of generated slots (generator seeds drawn below 2**31 - 1) with
5, 10, 20, 40, 80 or 120 users (one stream per rollout thread, the counts in turn) and 1, 2, 3, 4 or 6
edges, the four catalog models with their 3 fastest or all of their configurations, the cloud on or off,
cells of 500 m to 5 km, uplinks of 5 or 10 MHz (downlinks 10 or 20), drawn per episode (with all four models
every user can be served somewhere even without the cloud, so every draw is a valid instance). benchmarks/papers/offloading.py tests them on seeds from 2**31 up
and on user counts not in that list (15, 30, 50, 100, 150, 200), and on the bundled instances.

Hyperparameters (``HYPERPARAMETERS``): the reference defaults of MAPPOConfig except

- ``reward="difference"``: each agent's reward is what its own choice adds to the slot's objective against
  refusing it (env.py). The team reward (the default) has the same policy gradient in expectation but with
  120 agents sharing one number the signal of one agent's choice is buried (measured: 1.5 to 2% behind
  greedy-offload after 40,000 steps against 0.4% with the difference reward);
- ``gamma=0``: a slot's reward depends only on that slot's actions (slots are independent problems; the
  last slot's loads in the observation change no reward), so the return of an action is its slot's reward;
  gamma 0.99 only adds the noise of later slots to every advantage (measured below);
- ``n_rollout_threads=16, episode_length=50``: 800 slots per update instead of 6,400, so that the 40
  updates of 32,000 slots fit in the time budget (each update still has some 37,000 agent-steps; about 10 s
  of CPU on this machine).

The ablations of docs/reproductions.md change one of them back with ``--set`` (``--set reward=team``,
``--set gamma=0.99``; with ``--set`` nothing is installed) and compare the printed validation gap with the
learning curve of the shipped run at the same number of slots (the same seed makes the runs identical up to
there but for the changed setting).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "edgeopt" / "data" / "policies"

TRAINING = {
    "users": [5, 10, 20, 40, 80, 120],
    "edges": [1, 2, 3, 4, 6],
    "generator": {"max_configs": [3, 3, None], "cloud": [True, True, True, False],
                  "cell_radius_m": [500.0, 500.0, 1500.0, 5000.0], "uplink_mhz": [10.0, 10.0, 5.0],
                  "downlink_mhz": [20.0, 20.0, 10.0]},
}
HYPERPARAMETERS = {"reward": "difference", "gamma": 0.0, "n_rollout_threads": 16, "episode_length": 50}
STEPS = 32_000


def train_one(algorithm: str, steps: int, seed: int, work: Path, overrides: dict) -> dict:
    from edgeopt.families.offloading.solvers.mappo import train

    started, cpu = time.perf_counter(), time.process_time()
    report = train(steps=steps, seed=seed, output=work / f"offloading-{algorithm}.pt",
                   independent_critic=algorithm == "ippo", hyperparameters={**HYPERPARAMETERS, **overrides},
                   progress=False, **TRAINING)
    return {"algorithm": algorithm, "wall": time.perf_counter() - started, "cpu": time.process_time() - cpu,
            "updates": report.updates, "steps": report.env_steps, "gap": report.final_validation_gap,
            "policy": str(report.policy), "size": report.policy.stat().st_size}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=STEPS, help=f"environment steps (slots) per policy ({STEPS})")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", choices=("mappo", "ippo"), help="train one policy only")
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "papers" / "training",
                    help="where the policies and their learning curves are written")
    ap.add_argument("--no-install", action="store_true", help="do not copy the policies into edgeopt/data/policies")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override one of HYPERPARAMETERS (a JSON value or text), for ablations; implies --no-install")
    args = ap.parse_args(argv)
    overrides = {}
    for pair in args.set:
        key, sep, text = pair.partition("=")
        if not sep:
            ap.error(f"--set {pair!r}: expected NAME=VALUE")
        try:
            overrides[key.strip()] = json.loads(text)
        except ValueError:
            overrides[key.strip()] = text
    if overrides:
        args.no_install = True  # an ablation never replaces the shipped policies
    args.work.mkdir(parents=True, exist_ok=True)
    algorithms = [args.only] if args.only else ["mappo", "ippo"]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(len(algorithms)) as pool:
        reports = pool.starmap(train_one, [(a, args.steps, args.seed, args.work, overrides) for a in algorithms])
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    for r in reports:
        gap = "-" if r["gap"] is None else f"{100 * r['gap']:.3f}%"
        print(f"{r['algorithm']}: {r['steps']} slots in {r['updates']} updates, {r['wall'] / 60:.1f} min wall, "
              f"{r['cpu'] / 60:.1f} min CPU; validation gap to greedy-offload {gap}; {r['size'] / 1e6:.2f} MB")
        if not args.no_install:
            POLICIES.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(r["policy"], POLICIES / Path(r["policy"]).name)
            print(f"  installed {POLICIES / Path(r['policy']).name}")
    print(f"all: {(time.perf_counter() - started) / 60:.1f} min wall on {len(algorithms)} process(es), "
          f"{(children.ru_utime + children.ru_stime) / 60:.1f} min CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
