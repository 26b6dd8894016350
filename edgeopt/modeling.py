"""The backend-neutral optimization model in matrix form.

A family's ``formulate()`` builds a :class:`Model` from whole arrays: blocks of variables with a
shape (``stored[edge, model, slot]``), and linear rows whose coefficients are added as broadcast
arrays of (row id, column id, coefficient). No Python loop runs per variable or per nonzero. The
Model knows no backend; each backend in :mod:`edgeopt.backends` reads :meth:`Model.matrix`.

    m = Model("demo", sense="min")
    x = m.add_variables("x", (3, 4), ub=1, integer=True)
    m.add_objective(x, cost)                       # cost broadcast to x's shape
    rows = m.add_rows("cap", (3,), hi=capacity)    # one row per first index
    m.add_terms(rows[:, None], x, weight[None, :]) # sum_j weight[j] * x[i, j] <= capacity[i]
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edgeopt.result import Status

if TYPE_CHECKING:
    import scipy.sparse as sp


@dataclass(frozen=True)
class VarBlock:
    """A block of variables: ``ids`` holds each variable's column index, in the block's shape."""

    name: str
    ids: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return self.ids.shape

    def __getitem__(self, key) -> np.ndarray:
        return self.ids[key]


@dataclass(frozen=True)
class RowBlock:
    """A block of linear rows: ``ids`` holds each row's index, in the block's shape."""

    name: str
    ids: np.ndarray


@dataclass(frozen=True)
class MatrixForm:
    """min/max c·x + offset  s.t.  row_lo <= A x <= row_hi,  col_lo <= x <= col_hi,  x_j integer if integrality[j]."""

    sense: str
    c: np.ndarray
    offset: float
    A: sp.csc_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    integrality: np.ndarray

    @property
    def num_cols(self) -> int:
        return self.c.size

    @property
    def num_rows(self) -> int:
        return self.row_lo.size

    def relaxed(self) -> "MatrixForm":
        """The continuous relaxation: the same model with no integer column."""
        return dataclasses.replace(self, integrality=np.zeros_like(self.integrality))

    def restricted(self, free: np.ndarray, x: np.ndarray) -> tuple["MatrixForm", np.ndarray]:
        """The model left when every column outside the mask ``free`` is fixed at its value in ``x``: only the
        free columns, only the rows that hold one of them (their bounds less the fixed columns' part), the
        fixed columns' objective moved into the offset. Returns it with the rows kept (indices). A row
        without a free column is constant; it holds if ``x`` does."""
        A = self.A.tocsc()
        free = np.asarray(free, dtype=bool)
        fixed_part = A[:, ~free] @ x[~free]
        sub = A[:, free].tocsr()
        rows = np.flatnonzero(np.diff(sub.indptr) > 0)
        return MatrixForm(
            sense=self.sense, c=self.c[free], offset=float(self.offset + self.c[~free] @ x[~free]),
            A=sub[rows].tocsc(), row_lo=self.row_lo[rows] - fixed_part[rows], row_hi=self.row_hi[rows] - fixed_part[rows],
            col_lo=self.col_lo[free], col_hi=self.col_hi[free], integrality=self.integrality[free],
        ), rows


def _ids(x) -> np.ndarray:
    if isinstance(x, (VarBlock, RowBlock)):
        return x.ids
    return np.asarray(x, dtype=np.int64)


class Model:
    """A mixed-integer linear model assembled from array blocks."""

    def __init__(self, name: str = "model", sense: str = "min") -> None:
        if sense not in ("min", "max"):
            raise ValueError(f"sense must be 'min' or 'max', got {sense!r}")
        self.name = name
        self.sense = sense
        self.var_blocks: dict[str, VarBlock] = {}
        self.row_blocks: dict[str, RowBlock] = {}
        # Pieces of the matrix form, one array per block or call, concatenated once by matrix().
        self._col_lo, self._col_hi, self._int = [], [], []
        self._obj_cols, self._obj_vals = [], []
        self._row_lo, self._row_hi = [], []
        self._t_rows, self._t_cols, self._t_vals = [], [], []
        self.offset = 0.0
        self.num_cols = 0
        self.num_rows = 0

    # -- variables -------------------------------------------------------------------------------
    def add_variables(self, name: str, shape, lb=0.0, ub=np.inf, integer: bool = False) -> VarBlock:
        """Add a block of variables of ``shape``; ``lb`` and ``ub`` broadcast to it."""
        if name in self.var_blocks:
            raise ValueError(f"variable block {name!r} already exists")
        shape = tuple(int(s) for s in np.atleast_1d(shape)) if not isinstance(shape, tuple) else shape
        n = int(np.prod(shape, dtype=np.int64))
        ids = np.arange(self.num_cols, self.num_cols + n, dtype=np.int64).reshape(shape)
        lo = np.broadcast_to(np.asarray(lb, dtype=float), shape).ravel()
        hi = np.broadcast_to(np.asarray(ub, dtype=float), shape).ravel()
        if np.any(lo > hi):
            raise ValueError(f"variable block {name!r}: a lower bound exceeds its upper bound")
        self._col_lo.append(lo.copy())
        self._col_hi.append(hi.copy())
        self._int.append(np.full(n, bool(integer)))
        self.num_cols += n
        block = VarBlock(name, ids)
        self.var_blocks[name] = block
        return block

    # -- objective -------------------------------------------------------------------------------
    def add_objective(self, variables, coef) -> None:
        """Add ``sum(coef * variables)`` to the objective; ``coef`` broadcasts to the ids' shape."""
        ids = _ids(variables)
        cols, vals = np.broadcast_arrays(ids, np.asarray(coef, dtype=float))
        self._obj_cols.append(cols.ravel())
        self._obj_vals.append(vals.ravel())

    def add_objective_constant(self, value: float) -> None:
        self.offset += float(value)

    # -- rows ------------------------------------------------------------------------------------
    def add_rows(self, name: str, shape, lo=-np.inf, hi=np.inf) -> RowBlock:
        """Add a block of rows ``lo <= (terms added later) <= hi``; returns their ids in ``shape``."""
        if name in self.row_blocks:
            raise ValueError(f"row block {name!r} already exists")
        shape = tuple(shape) if isinstance(shape, tuple) else (int(shape),)
        n = int(np.prod(shape, dtype=np.int64))
        ids = np.arange(self.num_rows, self.num_rows + n, dtype=np.int64).reshape(shape)
        self._row_lo.append(np.broadcast_to(np.asarray(lo, dtype=float), shape).ravel().copy())
        self._row_hi.append(np.broadcast_to(np.asarray(hi, dtype=float), shape).ravel().copy())
        self.num_rows += n
        block = RowBlock(name, ids)
        self.row_blocks[name] = block
        return block

    def add_terms(self, rows, variables, coef=1.0, where=None) -> None:
        """Add ``coef * variable`` to ``row`` for every element of the broadcast of the three arrays.

        ``where`` (a boolean array broadcasting to the same shape) keeps only some elements; it is
        how structurally absent terms (a region with no link to an edge) stay out of the matrix.
        Repeated (row, column) pairs are summed.
        """
        arrays = [_ids(rows), _ids(variables), np.asarray(coef, dtype=float)]
        if where is not None:
            arrays.append(np.asarray(where, dtype=bool))
        b = np.broadcast_arrays(*arrays)
        r, c, v = b[0].ravel(), b[1].ravel(), b[2].ravel()
        if where is not None:
            keep = b[3].ravel()
            r, c, v = r[keep], c[keep], v[keep]
        self._t_rows.append(r)
        self._t_cols.append(c)
        self._t_vals.append(v)

    # -- assembled form --------------------------------------------------------------------------
    def matrix(self) -> MatrixForm:
        """The model as arrays: objective, CSC constraint matrix, row and column bounds."""
        import scipy.sparse as sp  # only when a model is assembled: `import edgeopt` stays light
        n, m = self.num_cols, self.num_rows
        c = np.zeros(n)
        if self._obj_cols:
            np.add.at(c, np.concatenate(self._obj_cols), np.concatenate(self._obj_vals))
        if self._t_rows:
            r = np.concatenate(self._t_rows)
            cols = np.concatenate(self._t_cols)
            v = np.concatenate(self._t_vals)
        else:
            r = cols = np.zeros(0, dtype=np.int64)
            v = np.zeros(0)
        A = sp.csc_matrix((v, (r, cols)), shape=(m, n))
        A.sum_duplicates()
        A.eliminate_zeros()
        cat = lambda parts, dtype=float: np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)  # noqa: E731
        return MatrixForm(
            sense=self.sense,
            c=c,
            offset=self.offset,
            A=A,
            row_lo=cat(self._row_lo),
            row_hi=cat(self._row_hi),
            col_lo=cat(self._col_lo),
            col_hi=cat(self._col_hi),
            integrality=cat(self._int, bool),
        )

    def column_names(self) -> list[str]:
        """Readable names ``block[i,j,k]`` for export; built only when asked."""
        return _names(self.var_blocks.values(), self.num_cols)

    def row_names(self) -> list[str]:
        return _names(self.row_blocks.values(), self.num_rows)

    def values(self, block: VarBlock, x: np.ndarray) -> np.ndarray:
        """The values of ``block`` in the solution vector ``x``, in the block's shape."""
        return np.asarray(x)[block.ids]

    def __repr__(self) -> str:
        return f"Model({self.name!r}, sense={self.sense!r}, cols={self.num_cols}, rows={self.num_rows})"


def _names(blocks, count: int) -> list[str]:
    names: list[str] = [""] * count
    for block in blocks:
        for idx in np.ndindex(block.ids.shape):
            names[int(block.ids[idx])] = f"{block.name}[{','.join(map(str, idx))}]"
    return names


def size_line(model: Model) -> str:
    """``N variables (K integer), R rows, Z nonzeros``: a model's size in one line."""
    mf = model.matrix()
    return (f"{mf.num_cols} variables ({int(mf.integrality.sum())} integer), {mf.num_rows} rows, "
            f"{mf.A.nnz} nonzeros")


@dataclass
class Outcome:
    """What a backend returns for a matrix-form model."""

    status: Status
    raw_status: str
    x: np.ndarray | None = None
    objective: float | None = None
    bound: float | None = None
    message: str = ""


#: Widest ratio between the largest and the smallest nonzero coefficient of one row at which a backend
#: that computes in floating point is trusted to prove anything. Beyond it presolve treats the small
#: coefficients as noise: for a gap capacity row of 1e12 beside resources of 1 and 1.77, HiGHS and SCIP
#: both returned as "optimal" a plan 25% worse than the optimum. The bundled instances stay below 1e3.
MAX_ROW_RANGE = 1e9


def _row_name(model: Model, i: int) -> str:
    for block in model.row_blocks.values():
        hit = np.flatnonzero(block.ids.ravel() == i)
        if hit.size:
            return f"{block.name}[{','.join(map(str, np.unravel_index(int(hit[0]), block.ids.shape)))}]"
    return f"row {i}"


def too_wide(mf: MatrixForm, model: Model) -> str | None:
    """Why the backends' proofs cannot be trusted on this model (its widest row), or None."""
    A = mf.A.tocsr(copy=True)
    A.eliminate_zeros()
    a = np.abs(A.data)
    starts = A.indptr[:-1][np.diff(A.indptr) > 0]
    if not starts.size:
        return None
    # In decades, so that a subnormal coefficient (5e-324 beside 1) cannot overflow the ratio.
    decades = np.log10(np.maximum.reduceat(a, starts)) - np.log10(np.minimum.reduceat(a, starts))
    k = int(np.argmax(decades))
    if not decades[k] > np.log10(MAX_ROW_RANGE):
        return None
    row = int(np.flatnonzero(np.diff(A.indptr) > 0)[k])
    part = a[A.indptr[row]:A.indptr[row + 1]]
    return (f"row {_row_name(model, row)} has coefficients from {part.min():.3g} to {part.max():.3g}, a ratio of "
            f"1e{decades[k]:.1f}, more than {MAX_ROW_RANGE:g}: a floating-point MILP solver's proof is not "
            "trusted there (its presolve takes the small coefficients for noise)")
