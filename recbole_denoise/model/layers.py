"""Graph layers shared by the package's models.

``BipartiteGraph`` holds the edges between two node sets (users and items, users and
clips, items and words) in compressed sparse rows for both orientations, and
propagates along them with sparse-matrix products (torch CSR), never dense
node x node matrices. Per-edge gathers are kept to the steps that need per-edge
values (attention scores, gradients of edge weights).
"""

import warnings

import torch
import torch_geometric.utils as pyg_utils
from torch import nn

# torch calls its CSR support "beta" on every construction; we rely on it knowingly
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")


def take_rows(x, index):
    """``x[index]`` along the first dimension (``index`` of any shape), by
    ``index_select``: its backward is an ``index_add``, which sums in a fixed order.
    The backward of ``x[index]`` accumulates in thread order on CPU, so with several
    threads and many repeated indices the same seed gave different gradients."""
    return x.index_select(0, index.reshape(-1)).view(*index.shape, *x.shape[1:])


def _compressed_pointer(sorted_index, size):
    counts = torch.bincount(sorted_index, minlength=size)
    pointer = torch.zeros(size + 1, dtype=torch.long, device=sorted_index.device)
    pointer[1:] = torch.cumsum(counts, 0)
    return pointer


class _WeightedSpMM(torch.autograd.Function):
    r"""``out = A_v @ x`` for the sparse matrix ``A_v`` with edge values ``v``.

    Forward and ``d x`` are CSR products; ``d v_e = <d out[target_e], x[source_e]>``
    is one gather per edge, computed only when ``v`` needs a gradient.
    """

    @staticmethod
    def forward(ctx, values, x, graph, to_rows):
        ctx.save_for_backward(values, x)
        ctx.graph, ctx.to_rows = graph, to_rows
        return graph.csr(values, to_rows) @ x

    @staticmethod
    def backward(ctx, grad_out):
        values, x = ctx.saved_tensors
        graph, to_rows = ctx.graph, ctx.to_rows
        grad_values = grad_x = None
        if ctx.needs_input_grad[1]:
            grad_x = graph.csr(values, not to_rows) @ grad_out
        if ctx.needs_input_grad[0]:
            # d v_e = <d out[target_e], x[source_e]>, an SDDMM on the edge pattern
            grad_values = graph.sddmm(grad_out, x) if to_rows else graph.sddmm(x, grad_out)
        return grad_values, grad_x, None, None


class _EdgeDot(torch.autograd.Function):
    r"""``s_e = x_rows[r_e] . x_cols[c_e]`` by SDDMM; its gradients are two CSR
    products (``d x_rows = A_g x_cols``, ``d x_cols = A_g^T x_rows``), not gathers."""

    @staticmethod
    def forward(ctx, x_rows, x_cols, graph):
        ctx.save_for_backward(x_rows, x_cols)
        ctx.graph = graph
        return graph.sddmm(x_rows, x_cols)

    @staticmethod
    def backward(ctx, grad_scores):
        x_rows, x_cols = ctx.saved_tensors
        graph = ctx.graph
        grad_rows = graph.csr(grad_scores, True) @ x_cols if ctx.needs_input_grad[0] else None
        grad_cols = graph.csr(grad_scores, False) @ x_rows if ctx.needs_input_grad[1] else None
        return grad_rows, grad_cols, None


class BipartiteGraph(nn.Module):
    r"""Distinct edges ``(rows[e], cols[e])`` between ``n_rows`` and ``n_cols`` nodes.

    With :math:`A_v` the ``n_rows x n_cols`` matrix holding edge values ``v``:

    - ``to_rows(v, x_cols)`` = :math:`A_v X_{cols}`, shape ``[n_rows, d]``;
    - ``to_cols(v, x_rows)`` = :math:`A_v^T X_{rows}`, shape ``[n_cols, d]``;
      ``to_some_cols(v, x_rows, cols)`` its rows ``cols`` only;
    - ``edge_dot(x_rows, x_cols)`` = :math:`x_{r_e} \cdot x_{c_e}`, shape ``[E]``;
    - ``softmax_per_row(s)`` / ``softmax_per_col(s)``: softmax of edge scores over
      the edges of each row node / column node (neighbour attention).

    Gradients flow to ``x`` and to ``v``. Edges are sorted by row then column.

    A module whose index tensors are non-persistent buffers: a model that holds the
    graph as an attribute moves it with ``model.to(device)``, and no checkpoint
    carries it (the dataset rebuilds it).
    """

    def __init__(self, rows, cols, n_rows, n_cols):
        super().__init__()
        rows, cols = rows.long(), cols.long()
        keys = torch.unique(rows * n_cols + cols)  # sorted and distinct
        self.n_rows, self.n_cols = int(n_rows), int(n_cols)
        self._index(keys // n_cols, keys % n_cols)

    def _index(self, rows, cols):
        col_order = torch.argsort(cols, stable=True)  # edges grouped by column
        index = {
            "rows": rows,
            "cols": cols,
            "row_pointer": _compressed_pointer(rows, self.n_rows),
            "col_order": col_order,
            "col_pointer": _compressed_pointer(cols[col_order], self.n_cols),
            "rows_by_col": rows[col_order],
        }
        for name, tensor in index.items():
            self.register_buffer(name, tensor, persistent=False)

    def extra_repr(self):
        return f"n_rows={self.n_rows}, n_cols={self.n_cols}, num_edges={self.num_edges}"

    @property
    def num_edges(self):
        return self.rows.numel()

    def csr(self, values, to_rows=True):
        """The value matrix as torch CSR: ``A_v`` (``to_rows``) or its transpose."""
        if to_rows:
            return torch.sparse_csr_tensor(self.row_pointer, self.cols, values,
                                           (self.n_rows, self.n_cols))
        return torch.sparse_csr_tensor(self.col_pointer, self.rows_by_col, values[self.col_order],
                                       (self.n_cols, self.n_rows))

    def to_rows(self, values, x_cols):
        return _WeightedSpMM.apply(values.to(x_cols.dtype), x_cols, self, True)

    def to_cols(self, values, x_rows):
        return _WeightedSpMM.apply(values.to(x_rows.dtype), x_rows, self, False)

    def to_some_cols(self, values, x_rows, cols):
        """Rows ``cols`` of ``to_cols(values, x_rows)``, ``[len(cols), d]``, touching only
        those columns' edges: for a training batch that needs a few thousand of the
        columns (FRAME's clips) this skips the product over the whole graph."""
        start = self.col_pointer[cols]
        count = self.col_pointer[cols + 1] - start
        owner = torch.repeat_interleave(torch.arange(len(cols), device=cols.device), count)
        first = torch.repeat_interleave(start - (torch.cumsum(count, 0) - count), count)
        edge = self.col_order[first + torch.arange(owner.numel(), device=cols.device)]
        messages = values[edge].to(x_rows.dtype).unsqueeze(-1) * take_rows(x_rows, self.rows[edge])
        return torch.zeros(len(cols), x_rows.shape[-1], dtype=x_rows.dtype, device=x_rows.device).index_add(
            0, owner, messages)

    def edge_dot(self, x_rows, x_cols):
        return _EdgeDot.apply(x_rows, x_cols, self)

    def sddmm(self, x_rows, x_cols):
        """Per-edge dot products ``[E]`` without autograd (sampled dense-dense product:
        about 5x faster than gathering both ends at Tiktok scale on CPU)."""
        pattern = self.csr(torch.zeros(self.num_edges, dtype=x_rows.dtype, device=x_rows.device))
        return torch.sparse.sampled_addmm(pattern, x_rows, x_cols.T, beta=0.0).values()

    def softmax_per_row(self, scores):
        return pyg_utils.softmax(scores, self.rows, num_nodes=self.n_rows)

    def softmax_per_col(self, scores):
        return pyg_utils.softmax(scores, self.cols, num_nodes=self.n_cols)

    def row_degree(self):
        return torch.bincount(self.rows, minlength=self.n_rows)

    def col_degree(self):
        return torch.bincount(self.cols, minlength=self.n_cols)

    def symmetric_norm(self):
        r""":math:`1 / \sqrt{d_r d_c}` per edge (LightGCN's normalisation)."""
        row_degree = self.row_degree().float().clamp(min=1)
        col_degree = self.col_degree().float().clamp(min=1)
        return (row_degree[self.rows] * col_degree[self.cols]).rsqrt()

    def row_mean_weights(self):
        """``1 / deg(row)`` per edge: ``to_rows`` with them averages the neighbours."""
        return 1.0 / self.row_degree().float().clamp(min=1)[self.rows]
