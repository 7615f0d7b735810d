"""A layered (Sugiyama-style) layout of an architecture's graph, and the blocks it can be folded into.

Pure Python, linear-ish in the size of the graph: ResNet-50 (176 layers) and DenseNet-201 (709) lay out in a
fraction of a second, so the window can compute a layout in a worker and draw it in its own scene.

Steps (the classic ones, kept small):

1. ranks by longest path from the model input (a chain is one node per rank, top to bottom);
2. edges spanning several ranks get *dummy* points, one per rank, so skip connections are routed beside the
   nodes they pass instead of through them;
3. crossings are reduced by barycentre sweeps (down and up, the best order kept, counted exactly);
4. x coordinates: each node is pulled towards the mean of its neighbours, and order and spacing are restored by
   isotonic regression (pool-adjacent-violators), so chains come out straight and branches side by side.

Blocks (:func:`find_blocks`) are groups of layers that fold into one node: layers sharing a name prefix
(``conv2_block1_…``, ``conv2_…``) and the region between a fork and the layer where its branches join, each
kept only if the group has one entry and one exit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from .architecture import INPUT, Architecture

NODE_WIDTH = 220.0
NODE_HEIGHT = 62.0
H_GAP = 36.0
V_GAP = 44.0
DUMMY_WIDTH = 14.0


@dataclass(frozen=True)
class NodeBox:
    """A node's box: centre ``(x, y)``, size, and its rank (row)."""

    name: str
    x: float
    y: float
    width: float
    height: float
    rank: int

    @property
    def left(self) -> float:
        return self.x - self.width / 2

    @property
    def top(self) -> float:
        return self.y - self.height / 2

    def overlaps(self, other: "NodeBox") -> bool:
        return (abs(self.x - other.x) * 2 < self.width + other.width
                and abs(self.y - other.y) * 2 < self.height + other.height)


@dataclass(frozen=True)
class EdgeRoute:
    """An edge from ``source``'s bottom to ``target``'s top through its bend points (one per rank it spans)."""

    source: str
    target: str
    points: tuple[tuple[float, float], ...]


@dataclass
class GraphLayout:
    nodes: dict[str, NodeBox] = field(default_factory=dict)
    edges: list[EdgeRoute] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0
    crossings: int = 0

    def node_at(self, x: float, y: float) -> str | None:
        for box in self.nodes.values():
            if abs(box.x - x) * 2 <= box.width and abs(box.y - y) * 2 <= box.height:
                return box.name
        return None


# --- the layout of any DAG -------------------------------------------------------------------------------
def layered_layout(nodes: Sequence[str], edges: Iterable[tuple[str, str]],
                   sizes: Mapping[str, tuple[float, float]] | None = None, sweeps: int = 6) -> GraphLayout:
    """Lay out a DAG given in a topological order (``nodes``) with ``edges`` (source, target) top to bottom."""
    sizes = sizes or {}
    position = {n: i for i, n in enumerate(nodes)}
    edges = [(s, t) for s, t in dict.fromkeys(edges) if s in position and t in position]
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    for s, t in edges:
        if position[s] >= position[t]:
            raise ValueError(f"the nodes are not in a topological order: {s!r} → {t!r}")
        preds[t].append(s)
    rank = {}
    for n in nodes:
        rank[n] = 1 + max((rank[p] for p in preds[n]), default=-1)

    # dummy points for long edges: chains of virtual nodes, one per rank in between
    vpreds: dict[str, list[str]] = {n: [] for n in nodes}
    vsuccs: dict[str, list[str]] = {n: [] for n in nodes}
    chains: dict[tuple[str, str], list[str]] = {}
    for s, t in edges:
        previous, chain = s, []
        for r in range(rank[s] + 1, rank[t]):
            d = f"\0{s}\0{t}\0{r}"
            rank[d] = r
            vpreds[d], vsuccs[d] = [], []
            vsuccs[previous].append(d)
            vpreds[d].append(previous)
            chain.append(d)
            previous = d
        vsuccs[previous].append(t)
        vpreds[t].append(previous)
        chains[(s, t)] = chain
    n_ranks = 1 + max(rank.values(), default=-1)
    rows: list[list[str]] = [[] for _ in range(n_ranks)]
    for n in rank:   # real nodes in file order first, then dummies in creation order
        rows[rank[n]].append(n)

    # crossing reduction: barycentre sweeps, keeping the best order seen
    def order_index() -> dict[str, int]:
        return {n: i for row in rows for i, n in enumerate(row)}

    def crossings() -> int:
        idx = order_index()
        total = 0
        for r in range(n_ranks - 1):
            pairs = sorted((idx[a], idx[b]) for a in rows[r] for b in vsuccs[a])
            total += _count_inversions([b for _, b in pairs])
        return total

    best = [list(row) for row in rows]
    best_count = crossings()
    for sweep in range(sweeps):
        down = sweep % 2 == 0
        idx = order_index()
        for r in (range(1, n_ranks) if down else range(n_ranks - 2, -1, -1)):
            neighbours = vpreds if down else vsuccs

            def key(n, idx=idx, neighbours=neighbours):
                adjacent = neighbours[n]
                return sum(idx[a] for a in adjacent) / len(adjacent) if adjacent else idx[n]

            rows[r].sort(key=key)
            for i, n in enumerate(rows[r]):
                idx[n] = i
        count = crossings()
        if count < best_count:
            best, best_count = [list(row) for row in rows], count
        if best_count == 0:
            break
    rows = best

    # x coordinates: pull towards neighbours, then restore order and spacing (isotonic regression)
    def width(n: str) -> float:
        return DUMMY_WIDTH if n not in preds else sizes.get(n, (NODE_WIDTH, NODE_HEIGHT))[0]

    x: dict[str, float] = {}
    for row in rows:
        cursor = 0.0
        for n in row:
            x[n] = cursor + width(n) / 2
            cursor += width(n) + H_GAP
        shift = cursor / 2
        for n in row:
            x[n] -= shift
    for sweep in range(8):
        down = sweep % 2 == 0
        for r in (range(n_ranks) if down else range(n_ranks - 1, -1, -1)):
            row = rows[r]
            wanted = []
            for n in row:
                adjacent = (vpreds if down else vsuccs)[n] + ([] if sweep < 2 else (vsuccs if down else vpreds)[n])
                wanted.append(sum(x[a] for a in adjacent) / len(adjacent) if adjacent else x[n])
            gaps = [(width(a) + width(b)) / 2 + (H_GAP if a in preds and b in preds else H_GAP / 3)
                    for a, b in zip(row, row[1:])]
            for n, value in zip(row, _spaced(wanted, gaps)):
                x[n] = value
    left = min((x[n] - width(n) / 2 for n in x), default=0.0)

    heights = [max((sizes.get(n, (NODE_WIDTH, NODE_HEIGHT))[1] for n in row if n in preds), default=NODE_HEIGHT)
               for row in rows]
    y_of_rank, cursor = [], 0.0
    for h in heights:
        y_of_rank.append(cursor + h / 2)
        cursor += h + V_GAP
    layout = GraphLayout(crossings=best_count)
    for n in nodes:
        w, h = sizes.get(n, (NODE_WIDTH, NODE_HEIGHT))
        layout.nodes[n] = NodeBox(n, x[n] - left, y_of_rank[rank[n]], w, h, rank[n])
    for (s, t), chain in chains.items():
        a, b = layout.nodes[s], layout.nodes[t]
        points = [(a.x, a.y + a.height / 2)] + [(x[d] - left, y_of_rank[rank[d]]) for d in chain] + \
                 [(b.x, b.y - b.height / 2)]
        layout.edges.append(EdgeRoute(s, t, tuple(points)))
    layout.width = max((x[n] - left + width(n) / 2 for n in x), default=0.0)
    layout.height = max(cursor - V_GAP, 0.0)
    return layout


def _spaced(wanted: list[float], gaps: list[float]) -> list[float]:
    """The positions closest (least squares) to ``wanted`` that keep the order with at least ``gaps`` between
    neighbours: pool-adjacent-violators on ``wanted − cumulative gap``."""
    offsets = [0.0]
    for g in gaps:
        offsets.append(offsets[-1] + g)
    values = [w - o for w, o in zip(wanted, offsets)]
    blocks: list[list[float]] = []   # [mean, count]
    for v in values:
        blocks.append([v, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, c2 = blocks.pop()
            m1, c1 = blocks.pop()
            blocks.append([(m1 * c1 + m2 * c2) / (c1 + c2), c1 + c2])
    out = []
    for mean, count in blocks:
        out.extend([mean] * int(count))
    return [v + o for v, o in zip(out, offsets)]


def _count_inversions(values: list[int]) -> int:
    """Pairs i < j with values[i] > values[j] (a Fenwick tree: n log n)."""
    if not values:
        return 0
    size = max(values) + 2
    tree = [0] * (size + 1)
    inversions = 0
    for seen, v in enumerate(values):
        i = v + 1
        below = 0
        while i > 0:
            below += tree[i]
            i -= i & -i
        inversions += seen - below
        i = v + 1
        while i <= size:
            tree[i] += 1
            i += i & -i
    return inversions


# --- architectures and blocks ------------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    """Layers that fold into one node: ``name`` (a prefix or ``fork→join``), ``members`` in file order, the one
    layer (or ``"input"``) feeding it from outside, and its one exit (the member consumed outside)."""

    name: str
    members: tuple[str, ...]
    entry: str
    exit: str
    kind: str   # "prefix" | "region"


def _edges(arch: Architecture) -> list[tuple[str, str]]:
    return [(n, layer.name) for layer, names in zip(arch.layers, arch.all_inputs()) for n in names]


def _sese(arch: Architecture, members: set[str], inputs: Mapping[str, tuple[str, ...]],
          consumers: Mapping[str, list[str]], outputs: set[str]) -> tuple[str, str] | None:
    entries = {n for m in members for n in inputs[m] if n not in members}
    exits = {m for m in members if m in outputs or any(c not in members for c in consumers[m])}
    if len(entries) == 1 and len(exits) == 1:
        return next(iter(entries)), next(iter(exits))
    return None


def find_blocks(arch: Architecture, min_size: int = 2) -> list[Block]:
    """Single-entry/single-exit groups: name-prefix groups (``conv2``, ``conv2_block1``; consecutive layers) and
    fork→join regions; nested blocks come after the blocks containing them.  A block never holds every layer."""
    layers = [layer.name for layer in arch.layers]
    inputs = dict(zip(layers, arch.all_inputs()))
    consumers = arch.consumers()
    outputs = set(arch.outputs())
    blocks: dict[tuple[str, ...], Block] = {}

    # name prefixes: runs of consecutive layers whose names share a prefix of '_'-separated parts
    def prefixes(name: str) -> list[str]:
        parts = name.split("_")
        return ["_".join(parts[:k]) for k in range(1, len(parts))]

    runs: dict[str, list[int]] = {}
    for i, name in enumerate(layers):
        for p in prefixes(name):
            runs.setdefault(p, []).append(i)
    for p, indices in runs.items():
        if len(indices) < min_size or len(indices) >= len(layers):
            continue
        if indices[-1] - indices[0] + 1 != len(indices):   # not consecutive: a name that only looks alike
            continue
        members = tuple(layers[i] for i in indices)
        ends = _sese(arch, set(members), inputs, consumers, outputs)
        if ends and members not in blocks:
            blocks[members] = Block(p, members, ends[0], ends[1], "prefix")

    # fork→join regions: from a layer read by several, down to the first layer every path from it reaches
    index = {n: i for i, n in enumerate(layers)}
    for fork in [INPUT, *layers]:
        if len(consumers.get(fork, ())) < 2:
            continue
        join = _first_common_descendant(fork, consumers, index)
        if join is None:
            continue
        members = tuple(n for n in layers[index.get(fork, -1) + 1: index[join] + 1]
                        if _between(n, fork, join, inputs, consumers, index))
        if len(members) < min_size or len(members) >= len(layers) or members in blocks:
            continue
        ends = _sese(arch, set(members), inputs, consumers, outputs)
        if ends:
            blocks[members] = Block(f"{fork}→{join}", members, ends[0], ends[1], "region")
    return sorted(blocks.values(), key=lambda b: (-len(b.members), index[b.members[0]]))


def _first_common_descendant(fork: str, consumers, index) -> str | None:
    """The layer every path leaving ``fork`` passes through first (its immediate post-dominator), or None when a
    path ends (a model output) before the branches meet: a sweep in file order over the open edges."""
    open_edges = {(fork, c) for c in consumers[fork]}
    while open_edges:
        n = min((t for _, t in open_edges), key=index.get)
        open_edges = {(s, t) for s, t in open_edges if t != n}
        if not open_edges:
            return n
        out = consumers.get(n, ())
        if not out:
            return None
        open_edges |= {(n, c) for c in out}
    return None


def _between(n: str, fork: str, join: str, inputs, consumers, index) -> bool:
    """Whether ``n`` lies on a path from ``fork`` to ``join`` (a descendant of fork and an ancestor of join)."""
    if n == join:
        return True
    stack, seen = [n], set()
    while stack:   # ancestor of join?
        m = stack.pop()
        if m == join:
            break
        if m in seen or index.get(m, -1) > index[join]:
            continue
        seen.add(m)
        stack.extend(consumers.get(m, ()))
    else:
        return False
    stack, seen = [n], set()
    while stack:   # descendant of fork?
        m = stack.pop()
        if m == fork:
            return True
        if m in seen or m == INPUT:
            continue
        seen.add(m)
        stack.extend(inputs.get(m, ()))
    return False


def architecture_layout(arch: Architecture, collapsed: Iterable[Block] = (),
                        sizes: Mapping[str, tuple[float, float]] | None = None) -> GraphLayout:
    """The layout of ``arch`` with the model input as the top node and each collapsed block as one node named
    after the block (collapsed blocks must not overlap)."""
    owner: dict[str, str] = {}
    for block in collapsed:
        for m in block.members:
            owner[m] = block.name
    nodes = [INPUT]
    for layer in arch.layers:
        node = owner.get(layer.name, layer.name)
        if node not in nodes:
            nodes.append(node)
    edges = []
    for s, t in _edges(arch):
        a, b = owner.get(s, s), owner.get(t, t)
        if a != b:
            edges.append((a, b))
    return layered_layout(nodes, edges, sizes)
