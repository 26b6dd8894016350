"""edgeopt/rl.py, the learning machinery both families' learned solvers share: the numpy forward pass against
PyTorch's, GAE against a hand computation, trajectories, and the imitation warm start learning what it is shown."""
from __future__ import annotations

import numpy as np
import pytest

from edgeopt import rl

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("overrides", [{}, {"use_ReLU": False}, {"layer_N": 0}, {"layer_N": 2, "hidden_size": 24},
                                       {"use_feature_normalization": False}])
def test_the_numpy_scorer_computes_the_torch_scorers_logits(overrides):
    torch.manual_seed(0)
    cfg = rl.make_config(**overrides)
    actor, _ = rl.make_networks(cfg, row_input=7, critic_input=5)
    with torch.no_grad():  # a trained-looking network: weights far from their initial scale
        for p in actor.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    rng = np.random.default_rng(1)
    counts = np.array([1, 4, 9, 2])
    mover = np.repeat(np.arange(counts.size), counts)
    x = (rng.normal(size=(mover.size, 7)) * 3).astype(np.float32)
    allowed = rng.random(mover.size) < 0.8
    allowed[np.searchsorted(mover, np.arange(counts.size))] = True
    with torch.no_grad():
        want = actor(torch.from_numpy(x), torch.from_numpy(mover), torch.from_numpy(allowed), counts.size).numpy()
    got = rl.NumpyScorer(actor).logits(x, mover, allowed, counts.size)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max())))
    picks = rl.NumpyScorer(actor).greedy_rows(x, mover, allowed, counts.size)
    assert np.array_equal(picks, rl.greedy_rows(actor, torch.from_numpy(x), torch.from_numpy(mover),
                                                torch.from_numpy(allowed), counts.size))


def test_gae_follows_each_trajectory_with_its_own_discounts():
    """Two interleaved trajectories; the second crosses a slot boundary (discount 0.5) once. Expected values
    computed by hand from the GAE recursion, without value normalisation."""
    cfg = rl.make_config(gamma=0.9, gae_lambda=0.5, use_valuenorm=False)
    traj = np.array([0, 1, 0, 1, 1])
    data = {"reward": np.array([1.0, 2.0, 3.0, 4.0, 5.0], dtype=np.float32),
            "value": np.array([0.5, 1.0, 1.5, 2.0, 2.5], dtype=np.float32), "next": rl.next_of(traj),
            "discount": np.array([1.0, 0.5, 1.0, 1.0, 1.0])}
    assert rl.next_of(traj).tolist() == [2, 3, -1, 4, -1]
    # trajectory 0: moves 0, 2; trajectory 1: moves 1, 3, 4
    d2 = 3.0 - 1.5
    a2 = d2
    d0 = 1.0 + 1.0 * 1.5 - 0.5
    a0 = d0 + 1.0 * 0.5 * a2
    d4 = 5.0 - 2.5
    a4 = d4
    d3 = 4.0 + 1.0 * 2.5 - 2.0
    a3 = d3 + 1.0 * 0.5 * a4
    d1 = 2.0 + 0.5 * 2.0 - 1.0
    a1 = d1 + 0.5 * 0.5 * a3
    ret, adv = rl.returns(cfg, data, rl.ValueNorm())
    np.testing.assert_allclose(adv, [a0, a1, a2, a3, a4], rtol=1e-6)
    np.testing.assert_allclose(ret, adv + data["value"], rtol=1e-6)
    data.pop("discount")  # without discounts: gamma everywhere
    _, adv = rl.returns(cfg, data, rl.ValueNorm())
    assert adv[0] == pytest.approx(1.0 + 0.9 * 1.5 - 0.5 + 0.9 * 0.5 * a2)


def test_imitation_learns_the_experts_rows():
    """The expert takes the row a feature flags among noise features (as forward-greedy's row is flagged in the
    serving rows); a few imitation updates from a random network must agree with it far more often than
    chance (about one in four here), and the loss must fall."""
    torch.manual_seed(0)
    cfg = rl.make_config(hidden_size=32, ppo_epoch=20, num_mini_batch=2)
    actor, _ = rl.make_networks(cfg, row_input=12, critic_input=2)
    rng = np.random.default_rng(0)
    counts = rng.integers(2, 7, size=400)
    mover = np.repeat(np.arange(counts.size), counts)
    x = rng.normal(size=(mover.size, 12)).astype(np.float32)
    starts = np.cumsum(counts) - counts
    expert = rng.integers(0, counts)
    x[:, 0] = 0.0
    x[starts + expert, 0] = 1.0
    data = {"features": x, "allowed": np.ones(mover.size, dtype=bool), "counts": counts,
            "action": np.zeros(counts.size, dtype=np.int64), "expert": expert}
    opt = torch.optim.Adam(actor.parameters(), lr=rl.IMITATION_LR)
    gen = torch.Generator().manual_seed(0)
    first = rl.imitation_update(cfg, actor, opt, gen, data)
    for _ in range(5):
        last = rl.imitation_update(cfg, actor, opt, gen, data)
    assert last["imitation_loss"] < first["imitation_loss"]
    picks = rl.NumpyScorer(actor).greedy_rows(x, mover, np.ones(mover.size, dtype=bool), counts.size) - starts
    assert np.mean(picks == expert) > 0.95


# -- the policy file: hostile files (issue 19, items 2 to 5) ------------------------------------------------
# Every file below is small; none may make the reader fail with anything but a ValueError naming the file, nor
# reach torch.load when torch.load itself would allocate what the file asks for.
import contextlib
import io
import json
import os
import pickle
import warnings
import zipfile

from conftest import INSTANCES, ROOT
from hostile import run_cli

SHIPPED = ROOT / "edgeopt" / "data" / "policies" / "offloading-mappo.pt"
GROUPS = ("actor", "critic", "value_norm")
WEIGHT = "embed.1.weight"  # (64, 36) float32 in the shipped offloading policy


def _offloading():
    from edgeopt.families.offloading.solvers import mappo

    return mappo


def _shipped() -> dict:
    data = torch.load(SHIPPED, weights_only=True)
    return {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}


def _save(path, data: dict, *, rehash: bool = False):
    """torch.save of ``data``; with ``rehash``, its header's content hash made to match its tensors (where the
    hash can be computed), so that only the checks on the tensors' form can refuse it."""
    if rehash:
        header = json.loads(data["header"])
        with contextlib.suppress(Exception):  # a tensor the hash cannot read: the file keeps its old hash
            header["content_hash"] = rl._tensors_hash(header, {g: data[g] for g in GROUPS})
        data = {**data, "header": json.dumps(header)}
    torch.save(data, path)
    return path


def _archive(path, pickled: bytes = b"\x80\x02N.", *, members=(), compress: bool = False):
    """A zip laid out as torch.save lays it out, its data.pkl replaced by ``pickled``, with ``members`` added."""
    buffer = io.BytesIO()
    torch.save({}, buffer)
    with zipfile.ZipFile(buffer) as z, zipfile.ZipFile(path, "w") as out:
        for info in z.infolist():
            data = pickled if info.filename.endswith("/data.pkl") else z.read(info.filename)
            out.writestr(info.filename, data, zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED)
        for name, data in members:
            out.writestr(name, data)
    return path


def _refused(path, match: str):
    with pytest.raises(ValueError, match=match) as caught:
        _offloading().load_policy(path)
    message = str(caught.value)
    assert message.startswith(f"policy {str(path)!r}") and "\n" not in message and len(message) < 400, message
    return message


def test_a_loaded_policy_holds_its_files_tensors():
    """The networks are built on the meta device and filled from the file: every value is the file's."""
    policy, data = _offloading().load_policy(SHIPPED), _shipped()
    for group, net in (("actor", policy.actor), ("critic", policy.critic)):
        ours = net.state_dict()
        assert set(ours) == set(data[group]) and not net.training
        assert all(torch.equal(ours[k], data[group][k]) and ours[k].device.type == "cpu" for k in ours)
    assert all(torch.equal(policy.value_norm.state_dict()[k], v) for k, v in data["value_norm"].items())


@pytest.mark.parametrize(("header", "message"), [
    ('{"format": ' + "1" * 5000 + "}", r"its header is not JSON \(a number too long\)"),
    ("[" * 100_000, r"its header is not JSON \(nested too deeply\)"),
    ("hyperparameters", r"its hyperparameters are not valid \(int too large to convert to float\)")],
    ids=["5000-digits", "nested-100000-deep", "lr-10**400"])
def test_header_values_python_cannot_hold_are_refused_naming_the_file(tmp_path, header, message):
    """Issue 19, item 2: a number of 5,000 digits gave a ValueError that named no file ("Exceeds the limit
    (4300 digits) ... use sys.set_int_max_str_digits()"), arrays nested 100,000 deep a RecursionError and
    lr 10**400 an OverflowError (tracebacks, exit 1)."""
    data = _shipped()
    if header == "hyperparameters":
        h = json.loads(data["header"])
        h["hyperparameters"]["lr"] = 10 ** 400
        header = json.dumps(h)
    data["header"] = header
    _refused(_save(tmp_path / "bad.pt", data), message)


@pytest.mark.parametrize(("change", "message"), [
    (lambda w: torch.zeros(1).expand(*w.shape), r"embed.1.weight has strides \(0, 0\), expected \(36, 1\)"),
    (lambda w: w.t().contiguous().t(), r"embed.1.weight has strides \(1, 64\), expected \(36, 1\)"),
    (lambda w: w.double(), r"has shape \(64, 36\) \(torch.float64\), expected \(64, 36\) \(torch.float32\)"),
    (lambda w: w.clone().fill_(float("nan")), "embed.1.weight holds values that are not finite"),
    (lambda w: w.bfloat16(), "its pickle names 'torch.BFloat16Storage'"),
    (lambda w: torch.empty(w.shape, device="meta"), "its pickle names 'torch._utils._rebuild_meta_tensor_no_storage'"),
    (lambda w: w.to_sparse(), "its pickle names 'torch._utils._rebuild_sparse_tensor'")],
    ids=["stride-0", "transposed", "float64", "nan", "bfloat16", "meta", "sparse"])
def test_tensors_not_laid_out_as_edgeopt_writes_them_are_refused(tmp_path, change, message):
    """Issue 19, item 3: a stride-0 expanded tensor, a transposed one, float64 or NaN values in place of a
    float32 weight were accepted (exit 0) once the content hash was made to match; bfloat16, meta and sparse
    tensors were a TypeError, NotImplementedError and RuntimeError from the hash (tracebacks)."""
    data = _shipped()
    data["actor"][WEIGHT] = change(data["actor"][WEIGHT])
    _refused(_save(tmp_path / "bad.pt", data, rehash=True), message)


def test_entries_beside_the_header_and_tensors_are_refused_without_being_read(tmp_path):
    """Issue 19, item 3: a file holding more than its header and its three groups of tensors was accepted, even
    with a stride-0 view of 10**12 elements; the elements are counted from the shapes, before anything else."""
    data = _shipped()
    _refused(_save(tmp_path / "small.pt", {**data, "junk": torch.zeros(1).expand(1000)}),
             r"it holds \['junk'\] beside its header and its actor, critic, value_norm tensors")
    total = 10 ** 12 + sum(t.numel() for g in GROUPS for t in data[g].values())
    _refused(_save(tmp_path / "huge.pt", {**data, "junk": torch.zeros(1).expand(10 ** 12)}),
             f"its tensors hold {total:,} values in all; an edgeopt policy file holds at most "
             f"{rl.MAX_POLICY_ELEMENTS:,}")


def _save_quantized(path):
    """A policy-like file holding a quantized tensor, written in a fresh process: pickling a quantized tensor
    makes pickle search sys.modules for a name, and in a process that imported Pyomo that search reaches
    Pyomo's placeholder for a missing optional module, which raises (seen under pytest-xdist)."""
    import subprocess
    import sys

    code = ("import sys, warnings, torch\n"
            "warnings.simplefilter('ignore')  # quantized dtypes are deprecated\n"
            "torch.save({'header': '{}', 'x': torch.quantize_per_tensor(torch.zeros(3), 1.0, 0, torch.qint8)}, "
            "sys.argv[1])\n")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=120)


class _Convert:  # torch's weights_only loader allows this conversion: it materialises the expanded view (8 GB)
    def __reduce__(self):
        return (torch._utils._rebuild_device_tensor_from_cpu_tensor,
                (torch.zeros(1).expand(10 ** 9), torch.float64, "cpu", False))


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.write_bytes((ROOT / "README.md").read_bytes()), "it is not a PyTorch archive, a zip file"),
    (lambda p: p.write_bytes(pickle.dumps({"header": "{}"}, protocol=4)), "it is not a PyTorch archive"),
    (lambda p: torch.save({"header": "{}", "x": _Convert()}, p),
     "its pickle names 'torch._utils._rebuild_device_tensor_from_cpu_tensor'"),
    (_save_quantized, "its pickle names 'torch._utils._rebuild_qtensor'"),
    (lambda p: _archive(p, SHIPPED.read_bytes()[:0] + zipfile.ZipFile(SHIPPED).read("archive/data.pkl"),
                        compress=True), "its archive has compressed members; torch.save stores them"),
    (lambda p: _archive(p, b"\x80\x02" + b"\x8f" * 200_000 + b"N."), "its pickle has more than 100,000 instructions"),
    (lambda p: _archive(p, pickle.dumps({"header": "x" * (2 << 20)}, protocol=2)),
     r"its data.pkl is 2,097,1\d\d bytes, more than 2,097,152"),
    (lambda p: _archive(p, members=[(f"archive/{i:0250d}", b"") for i in range(3_600)]),
     r"its archive's directory is [\d,]+ bytes, more than 1,048,576"),
    (lambda p: _archive(p, members=[("elsewhere/data/0", b"")]), "its archive is not laid out as torch.save lays")],
    ids=["readme", "protocol-4", "conversion", "quantized", "deflated", "pickle-ops", "pickle-bytes", "directory",
         "two-folders"])
def test_files_that_would_make_torch_load_allocate_are_refused_before_it_runs(tmp_path, monkeypatch, make, message):
    """Issue 19, item 3: torch.load(weights_only=True) itself allocates what a small file asks for: a 1.7 KB
    file converting an expanded view grew the process to 5.6 GB, a 2.7 MB one with a deflated member to 2.9 GB,
    a 16 MB pickle of empty sets to 4.0 GB (94 s). Such files are now refused from the archive's directory and
    a scan of its pickle, before torch.load runs (here it would fail the test)."""
    path = tmp_path / "bad.pt"
    make(path)
    reached = []

    def load(*args, **kwargs):
        reached.append(args)
        raise RuntimeError("torch.load reached")

    monkeypatch.setattr(torch, "load", load)
    _refused(path, message)
    assert not reached


def test_torch_warnings_are_not_shown(tmp_path):
    """Issue 19, item 4: a protocol-4 pickle printed PyTorch's UserWarning ("Detected pickle protocol 4 ...")
    before the one line."""
    plain = tmp_path / "plain.pt"
    plain.write_bytes(pickle.dumps({"header": "{}"}, protocol=4))
    zipped = _archive(tmp_path / "zipped.pt", pickle.dumps({"header": "{}"}, protocol=4))
    for path in (plain, zipped):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _refused(path, ".")
        assert not caught, [str(w.message) for w in caught]


class _Marker:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_runs_nothing(tmp_path):
    """Issue 19, item 4: a pickle whose object would run a shell command, plain or inside a torch archive, is
    refused and runs nothing."""
    marker = tmp_path / "ran"
    plain = tmp_path / "plain.pt"
    plain.write_bytes(pickle.dumps(_Marker(marker), protocol=2))
    zipped = _archive(tmp_path / "zipped.pt", pickle.dumps({"header": "{}", "x": _Marker(marker)}, protocol=2))
    _refused(plain, "it is not a PyTorch archive")
    _refused(zipped, "its pickle names 'posix.system'" if os.name == "posix" else "its pickle names")
    assert not marker.exists()


def test_an_empty_file_and_a_nul_in_the_path_are_named_for_what_they_are(tmp_path):
    """Issue 19, item 5: an empty file was "PyTorch cannot read it: EOFError", a path with a NUL character
    "embedded null byte" (no file named)."""
    (tmp_path / "empty.pt").write_bytes(b"")
    _refused(tmp_path / "empty.pt", "is an empty file, not an edgeopt policy file")
    with pytest.raises(ValueError, match=r"policy 'a\\x00b': not a path \(it holds a NUL character\)"):
        _offloading().load_policy("a\0b")


def test_the_largest_networks_the_limits_allow_fit_in_a_policy_file():
    """hidden_size 1,024 with layer_N 8 (rl.LIMITS) hold about 19 million float32 values, 73 MB: the file
    limit was 64 MB, so `edgeopt train` could write a policy that no solver would read. Counted from networks
    on the meta device, for both families and both critics, with 1 MB for the header and the archive."""
    from edgeopt.families.serving.solvers import mappo as serving

    for kind in (_offloading().KIND, serving.KIND):
        for centralised in (True, False):
            cfg = rl.make_config(hidden_size=rl.LIMITS["hidden_size"], layer_N=rl.LIMITS["layer_N"],
                                 use_centralized_V=centralised)
            with torch.device("meta"):
                actor, critic = kind.networks(cfg)
            tensors = [*actor.state_dict().values(), *critic.state_dict().values()]
            assert sum(t.numel() * t.element_size() for t in tensors) + 2 ** 20 <= rl.MAX_POLICY_BYTES
            assert sum(t.numel() for t in tensors) <= rl.MAX_POLICY_ELEMENTS


def test_hostile_policy_files_through_the_command_line(tmp_path):
    """Issue 19, items 2 to 5, through `edgeopt solve --option policy=FILE -o out.json`, for both families: exit
    2, one line `edgeopt: error: policy ...`, no traceback, no solution file."""
    data = _shipped()
    stride0 = {**data, "actor": {**data["actor"], WEIGHT: torch.zeros(1).expand(64, 36)}}
    files = [_save(tmp_path / "stride0.pt", stride0, rehash=True),
             _save(tmp_path / "extra.pt", {**data, "junk": torch.zeros(1).expand(10 ** 9)}),
             _save(tmp_path / "deep.pt", {**data, "header": "[" * 100_000}),
             _archive(tmp_path / "sets.pt", b"\x80\x02" + b"\x8f" * 200_000 + b"N."),
             _archive(tmp_path / "protocol4.pt", pickle.dumps({"header": "{}"}, protocol=4)),
             ROOT / "README.md"]
    (tmp_path / "empty.pt").write_bytes(b"")
    files.append(tmp_path / "empty.pt")
    for instance in (INSTANCES / "offloading" / "offload-tiny-1.json", INSTANCES / "serving" / "serving-tiny-1.json"):
        for path in files:
            out = tmp_path / "out.json"
            run = run_cli(["solve", instance, "--solver", "mappo", "--option", f"policy={path}", "-o", out])
            assert run.code == 2 and run.err.startswith("edgeopt: error: policy "), (path, run)
            assert run.err.count("\n") == 1 and run.err.endswith("\n") and not out.exists(), (path, run)


def test_a_curve_of_one_update_shows_its_point_and_says_so(tmp_path, monkeypatch):
    """Issue 20, item 4: `train --steps 500` runs one update, and its learning curve, one row, plotted as
    near-empty panels (3-pt dots on the panels' edges, nothing saying why). Now: large markers and a note."""
    import csv

    from matplotlib.figure import Figure

    drawn = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, *args, **kwargs: drawn.append(fig))
    curve = tmp_path / "curve.csv"
    with open(curve, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*rl.CURVE_HEAD, "validation_a"])
        writer.writerow(["1", "6400", "3.0", "2000", "-0.5", *["0.1"] * len(rl.UPDATE_COLUMNS), "0.12"])
    rl.plot_curve(curve, tmp_path / "curve.png", "one", {"validation_a": "a"}, "gap, %")
    (fig,) = drawn
    for ax in fig.axes:
        line = ax.get_lines()[0]  # the data (the validation panel's zero line comes after)
        assert len(line.get_xdata()) == 1 and line.get_marker() == "o" and line.get_markersize() >= 6
        low, high = ax.get_ylim()
        assert low < line.get_ydata()[0] < high  # inside the panel, not on its edge
    assert any("1 update" in t.get_text() and "--steps" in t.get_text() for t in fig.texts)
