"""Property-based attacks on the policy files of the learned solvers (edgeopt.rl.load_policy; issue 19, items 2
to 5), starting from the shipped offloading MAPPO policy.

1. Mutations of the file's dictionary, saved with torch.save (one tensor changed, or one to three mutations of
   any kind): keys dropped, renamed, retyped or added; the JSON header mutated (hostile values, wrong types,
   huge numbers, deep nesting, text that is not JSON); tensors of another shape, dtype, layout or strides,
   non-finite values, other objects; with the content hash made to match the tensors or not. ``load_policy`` raises a ValueError naming the file on one line (never another
   exception), or loads a policy equal to the original; a policy that differs from it is never loaded.
2. Random byte corruptions of the file (flips, overwrites, insertions, deletions, truncations): the same.
3. The command line on a few drawn files that are refused: exit 2, one line `edgeopt: error: policy ...`,
   no traceback, no solution file.

The plain regression tests of the defects these properties cover are in tests/test_rl.py.

Budgets: the default profile ("edgeopt") runs few examples, derandomized, as tests/test_properties.py does; many
more, with fresh randomness each run:

    HYPOTHESIS_PROFILE=nightly python -m pytest -q -p no:cacheprovider tests/test_policy_properties.py
"""
from __future__ import annotations

import contextlib
import json
import tempfile
import time
from pathlib import Path

import pytest
from conftest import INSTANCES, ROOT
from property_budget import budget
from hostile import dumps, mutated, run_cli, stray_temporaries
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from edgeopt import rl
from edgeopt.families.offloading.solvers import mappo



#: No load may take longer than this (generous: a load of the shipped file takes some milliseconds).
MOST_SECONDS = 20.0
SHIPPED = ROOT / "edgeopt" / "data" / "policies" / "offloading-mappo.pt"
SHIPPED_BYTES = SHIPPED.read_bytes()
BASE = torch.load(SHIPPED, weights_only=True)
HEADER = json.loads(BASE["header"])
GROUPS = ("actor", "critic", "value_norm")
TINY = INSTANCES / "offloading" / "offload-tiny-1.json"


def fresh() -> dict:
    """The shipped file's dictionary; the tensors are shared, never changed in place."""
    return {"header": BASE["header"], **{g: dict(BASE[g]) for g in GROUPS}}


def is_original(policy) -> bool:
    nets = {"actor": policy.actor.state_dict(), "critic": policy.critic.state_dict(),
            "value_norm": policy.value_norm.state_dict()}
    return policy.header == HEADER and all(
        set(nets[g]) == set(BASE[g]) and all(torch.equal(nets[g][k], BASE[g][k]) for k in BASE[g]) for g in GROUPS)


def outcome(path: Path):
    """``load_policy(path)``: None after a well-formed refusal, else the policy; anything else fails."""
    started = time.perf_counter()
    try:
        policy = mappo.load_policy(path)
    except ValueError as exc:
        message = str(exc)
        assert message.startswith(f"policy {str(path)!r}"), message
        assert "\n" not in message and len(message) < 1000, message
        policy = None
    assert time.perf_counter() - started < MOST_SECONDS
    return policy


# -- mutations of the dictionary -------------------------------------------------------------------------------
def _first(t):
    return t.reshape(-1)[:1]


#: Changes of one tensor: (name, change). Each gives a tensor (or object) that either keeps the tensor's values
#: in a form edgeopt accepts, or that edgeopt must refuse.
TENSOR_CHANGES = {
    "clone": lambda t: t.clone(),
    "view-at-an-offset": lambda t: torch.cat([torch.zeros(3, dtype=t.dtype), t.reshape(-1)])[3:].view(t.shape),
    "stride-0": lambda t: _first(t).reshape([1] * t.dim()).expand(t.shape),
    "expanded-huge": lambda t: torch.zeros(1, dtype=t.dtype).expand(10 ** 10),
    "strided": lambda t: (t.t().contiguous().t() if t.dim() == 2 else torch.stack([t, t], -1)[..., 0] if t.dim()
                          else t.clone()),
    "flattened": lambda t: t.reshape(-1).clone(),
    "unsqueezed": lambda t: t.unsqueeze(0),
    "shorter": lambda t: t.reshape(-1)[:-1],
    "longer": lambda t: torch.cat([t.reshape(-1), _first(t)]),
    "float64": lambda t: t.double(),
    "float32": lambda t: t.float(),
    "float16": lambda t: t.half(),
    "bfloat16": lambda t: t.bfloat16(),
    "int32": lambda t: t.to(torch.int32),
    "complex64": lambda t: t.to(torch.complex64),
    "bool": lambda t: t.bool(),
    "nan": lambda t: torch.cat([torch.full((1,), float("nan"), dtype=t.dtype), t.reshape(-1)[1:]]).view(t.shape),
    "infinity": lambda t: torch.cat([t.reshape(-1)[:-1], torch.full((1,), float("inf"), dtype=t.dtype)]).view(t.shape),
    "parameter": lambda t: torch.nn.Parameter(t.clone()),
    "sparse": lambda t: t.to_sparse() if t.dim() else t.reshape(1).to_sparse(),
    "meta": lambda t: torch.empty(t.shape, dtype=t.dtype, device="meta"),
    "requires-grad": lambda t: t.clone().requires_grad_(True),
    "integer": lambda t: 3,
    "float": lambda t: 0.5,
    "none": lambda t: None,
    "text": lambda t: "tensor",
    "list": lambda t: [t],
    "dict": lambda t: {"t": t},
    "bytes": lambda t: b"\x00" * 8,
}


@st.composite
def one_tensor_changed(draw) -> tuple[dict, bool]:
    """(the dictionary with one tensor changed, whether its content hash is to be made to match)."""
    data = fresh()
    group = draw(st.sampled_from(GROUPS))
    name = draw(st.sampled_from(sorted(data[group])))
    with contextlib.suppress(Exception):  # a change that does not apply to this tensor: the file is the original
        data[group][name] = TENSOR_CHANGES[draw(st.sampled_from(list(TENSOR_CHANGES)))](data[group][name])
    return data, draw(st.sampled_from([True, True, False]))


@st.composite
def mutated_dicts(draw) -> tuple[dict, bool]:
    """(a mutated dictionary, whether its content hash is to be made to match its tensors). Header mutations
    keep the old hash: a header that differs from the original must be refused (a header that parses to the
    original's is the original)."""
    data = fresh()
    rehash = draw(st.booleans())
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["tensor", "tensor", "tensor", "drop", "rename", "retype", "extra", "extra-group",
                                   "header", "header", "header-text"]))
        group = draw(st.sampled_from(GROUPS))
        if op == "tensor" and isinstance(data.get(group), dict) and data[group]:
            name = draw(st.sampled_from(sorted(data[group], key=str)))
            change = draw(st.sampled_from(list(TENSOR_CHANGES)))
            if isinstance(data[group][name], torch.Tensor):
                with contextlib.suppress(Exception):  # a change that does not apply to this tensor
                    data[group][name] = TENSOR_CHANGES[change](data[group][name])
        elif op == "drop":
            if draw(st.booleans()):
                data.pop(draw(st.sampled_from(["header", *GROUPS])), None)
            elif isinstance(data.get(group), dict) and data[group]:
                data[group].pop(draw(st.sampled_from(sorted(data[group], key=str))))
        elif op == "rename" and isinstance(data.get(group), dict) and data[group]:
            name = draw(st.sampled_from(sorted(data[group], key=str)))
            data[group][draw(st.sampled_from([name + " ", name.upper(), "", "\ud800", name + ".x"]))] = \
                data[group].pop(name)
        elif op == "retype":
            data[draw(st.sampled_from(["header", *GROUPS]))] = draw(st.sampled_from(
                [[1, 2], None, torch.zeros(3), "x", 7, HEADER, {}]))
        elif op == "extra":
            data[draw(st.sampled_from(["junk", "", "Header", 7]))] = draw(st.sampled_from(
                [torch.zeros(1).expand(1000), torch.zeros(4), "x", None, [1], {"a": torch.zeros(2)}]))
        elif op == "extra-group" and isinstance(data.get(group), dict):
            data[group][draw(st.sampled_from(["extra.weight", "", "running_mean_"]))] = torch.zeros(2)
        elif op == "header" and isinstance(data.get("header"), str):
            rehash = False
            with contextlib.suppress(ValueError, RecursionError):  # a header not JSON any more: left as it is
                data["header"] = dumps(draw(mutated(json.loads(data["header"]))))
        elif op == "header-text" and isinstance(data.get("header"), str):
            rehash = False
            text = data["header"]
            data["header"] = draw(st.sampled_from([
                text[: draw(st.integers(0, max(0, len(text) - 1)))],
                text.replace('"hidden_size": 64', '"hidden_size": ' + "9" * 5000),
                text.replace('"hidden_size": 64', '"hidden_size": 1e999'),
                text.replace('"layer_N": 1', '"layer_N": 100000'),
                text.replace('"layer_N": 1', '"layer_N": NaN'),
                text.replace('"training": {', '"training": {"deep": ' + "[" * 5000 + "]" * 5000 + ", ", 1),
                "[" * 100_000,
                "null", "[]", '"x"', "", "{}", text + text]))
    return data, rehash


def write(path: Path, data: dict, rehash: bool) -> Path:
    if rehash and isinstance(data.get("header"), str):
        with contextlib.suppress(Exception):  # a header or a tensor the hash cannot read keeps its old hash
            header = json.loads(data["header"])
            header["content_hash"] = rl._tensors_hash(header, {g: data[g] for g in GROUPS})
            data = {**data, "header": json.dumps(header)}
    torch.save(data, path)
    return path


def changed(data: dict) -> bool:
    """Whether ``data`` differs from the shipped file's dictionary (a header that parses to the same JSON, or a
    tensor with the same values, layout and dtype, is the same)."""
    if set(data) != {"header", *GROUPS} or not isinstance(data["header"], str):
        return True
    try:
        if json.loads(data["header"]) != HEADER:
            return True
    except (ValueError, RecursionError):
        return True
    for g in GROUPS:
        if not isinstance(data[g], dict) or set(data[g]) != set(BASE[g]):
            return True
        for k, t in data[g].items():
            if (type(t) is not torch.Tensor or t.device.type != "cpu" or t.layout != torch.strided
                    or t.dtype != BASE[g][k].dtype or t.shape != BASE[g][k].shape or not t.is_contiguous()
                    or not torch.equal(t, BASE[g][k])):
                return True
    return False


def refused_or_original(data: dict, rehash: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder) / "policy.pt", data, rehash)
        policy = outcome(path)
    if policy is not None:
        assert is_original(policy), "a policy other than the original was loaded"
        assert not changed(data) or rehash, "a changed file was loaded without its content hash made to match"


@budget()
@given(case=one_tensor_changed())
def test_a_policy_with_a_changed_tensor_is_refused_or_is_the_original(case):
    refused_or_original(*case)


@budget()
@given(case=mutated_dicts())
def test_a_mutated_policy_is_refused_or_is_the_original(case):
    refused_or_original(*case)


# -- byte corruptions --------------------------------------------------------------------------------------
@st.composite
def corrupted(draw) -> bytes:
    data = bytearray(SHIPPED_BYTES)
    for _ in range(draw(st.integers(1, 4))):
        n = len(data)
        if n < 2:
            break
        at = draw(st.one_of(st.integers(0, min(5000, n - 1)), st.integers(max(0, n - 5000), n - 1),
                            st.integers(0, n - 1)))  # the pickle is at the start, the directory at the end
        op = draw(st.sampled_from(["flip", "flip", "overwrite", "insert", "delete", "truncate"]))
        if op == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif op == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=64))
            data[at:at + len(chunk)] = chunk[: n - at]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        else:
            del data[at:]
    return bytes(data)


@budget()
@given(content=corrupted())
def test_a_corrupted_policy_file_is_refused_or_is_the_original(content):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "policy.pt"
        path.write_bytes(content)
        policy = outcome(path)
    assert policy is None or is_original(policy)


# -- the command line ------------------------------------------------------------------------------------
@budget(0.25)
@given(case=st.one_of(mutated_dicts().map(lambda c: ("dict", c)), one_tensor_changed().map(lambda c: ("dict", c)),
                      corrupted().map(lambda c: ("bytes", c))))
def test_a_refused_policy_is_one_line_and_exit_2_on_the_command_line(case):
    kind, value = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder).resolve() / "policy.pt"
        if kind == "dict":
            write(path, *value)
        else:
            path.write_bytes(value)
        if outcome(path) is not None:
            return  # a file that is (still) the original: not a case for this property
        out = Path(folder) / "solution.json"
        run = run_cli(["solve", TINY, "--solver", "mappo", "--option", f"policy={path}", "-o", out])
        assert run.code == 2 and run.err.startswith(f"edgeopt: error: policy {str(path)!r}"), run
        assert run.err.count("\n") == 1 and run.err.endswith("\n") and not run.out, run
        assert not out.exists() and not stray_temporaries(Path(folder), out.name)
