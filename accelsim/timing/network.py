"""The whole network as one discrete-event simulation: layers that overlap and resources they share.

Each layer alone is a double-buffered tile pipeline with an exact closed form (accelsim.mapping.schedule).
What no per-layer formula gives is how layers interact on one device; this SimPy model runs the network's
layer graph, dispatched in order, on shared resources:

- one DRAM engine (the outermost level's bandwidth), shared by every transfer in flight: a layer's own
  streaming (activations in and out, weights it did not prefetch) and the next layer's weight prefetch
  contend for it, request by request (a DMA queue; demand before prefetch);
- the device's cores (``array.cores``): a layer starts when the layers it reads have finished and the cores it
  occupies are free; on profiles with ``concurrent_layers`` an independent layer starts on cores its
  predecessor leaves idle (fewer folds / CTAs than cores), else the layers run one at a time;
- an on-chip staging buffer (the largest on-chip level): the next layer's weights are prefetched while the
  current layer computes, if they fit beside the current layer's working set; they are released when that
  layer finishes;
- each layer also keeps its on-chip feed time (the slowest on-chip engine) and its start-up (access latency,
  kernel launch) from its own mapping.

A layer is cut into at most ``CHUNKS`` equal steps (loader and compute unit double-buffered, as in the layer
pipeline), so a network of L layers costs O(L x CHUNKS) events whatever the shapes. Without prefetch and
contention effects the simulation reproduces the sum of the layers' closed forms (tests/timing); with them,
a weight-heavy layer after a compute-bound one starts with its weights already on chip, and a prefetch that
shares DRAM with a memory-bound layer slows it down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import simpy

#: steps a layer is cut into in the network simulation (each a double-buffered chunk of its tiles)
CHUNKS = 8
#: at most this many DRAM requests for one layer's weight prefetch (bounds the event count)
MAX_PREFETCH_PIECES = 256


@dataclass(frozen=True)
class LayerCost:
    """What the network simulation needs of one layer (cycles of the profile's clock, bytes)."""

    name: str
    cycles: float             # the layer alone: its exact pipeline closed form (all its DRAM traffic included)
    startup_cycles: float     # access latency and kernel launch before its first tile
    core_cycles: float        # what bounds it besides DRAM: compute, or its slowest on-chip engine
    weight_bytes: int         # DRAM bytes of stored weights: can be prefetched during the previous layer
    stream_bytes: int         # its other DRAM bytes (activations in and out)
    working_bytes: int = 0    # on-chip bytes it holds while it runs (its tiles, double-buffered)
    #: the layers whose outputs it reads (names; others are the network's inputs): it starts when they have
    #: finished. None: after the layer before it (a chain)
    inputs: tuple[str, ...] | None = None
    cores_busy: int = 0       # cores it occupies (LayerTiming.cores_busy; 0: all)

    @property
    def fill_cycles(self) -> float:
        """The pipeline fill beyond the steady state (first transfer before compute overlaps, last compute)."""
        dram = (self.weight_bytes + self.stream_bytes)
        return max(0.0, self.cycles - self.startup_cycles - max(self.core_cycles, dram * self._per_byte))

    _per_byte: float = 0.0    # DRAM cycles per byte, set by simulate_network


@dataclass(frozen=True)
class NetworkResult:
    """Simulated cycles of the whole network and of each layer within it."""

    cycles: float
    isolated_cycles: float                        # the sum of the layers' own closed forms (no overlap)
    spans: tuple[tuple[str, float, float], ...]   # (layer, start, end) in cycles
    prefetched: tuple[str, ...]                   # layers whose weights arrived during the previous layer
    dram_busy_cycles: float
    events: int
    #: layers that started before the layer before them had finished: an independent layer on cores the other
    #: left free (its DRAM traffic shared the engine with it)
    concurrent: tuple[str, ...] = ()

    @property
    def dram_busy(self) -> float:
        return self.dram_busy_cycles / self.cycles if self.cycles else 0.0


def simulate_network(layers: list[LayerCost], dram_bytes_per_cycle: float, buffer_bytes: int,
                     chunks: int = CHUNKS, prefetch: bool = True,
                     max_prefetch_pieces: int = MAX_PREFETCH_PIECES, cores: int = 1) -> NetworkResult:
    """Run ``layers`` on one device of ``cores`` cores. ``dram_bytes_per_cycle``: the DRAM engine's rate;
    ``buffer_bytes``: the on-chip staging capacity for prefetched weights (0 disables prefetch).

    Layers are dispatched in order (one command stream) and each starts when its inputs are ready and the cores
    it occupies are free; a layer that leaves cores idle (fewer folds / CTAs than cores) lets the next
    independent layer start beside it, and the two then share the DRAM engine. A layer takes its start-up and
    fill, then ``chunks`` steps, each as long as the slower of its share of the core work and its share of DRAM
    streaming on the shared engine (queued behind any prefetch in flight). Alone and without prefetch, a layer
    takes exactly its closed form."""
    import dataclasses

    layers = [dataclasses.replace(cost, _per_byte=1.0 / dram_bytes_per_cycle) for cost in layers]
    env = simpy.Environment()
    # demand traffic first: a prefetch only takes the DRAM engine between the running layer's requests (the DMA
    # priority of NPUs' prefetch queues, and of GPUs' L2 prefetch behind demand misses)
    dram = simpy.PriorityResource(env, capacity=1)
    buffer = simpy.Container(env, capacity=max(1, buffer_bytes), init=max(1, buffer_bytes))
    counters = {"events": 0, "dram": 0.0}
    prefetched: list[str] = []
    inflight = [0.0] * len(layers)     # weight bytes of layer i prefetched or in service (a request is not preempted)
    started = [False] * len(layers)    # layer i has started: its prefetch stops, it streams the rest itself
    reserved = [0] * len(layers)

    def dram_transfer(nbytes: float, pieces: int, priority: int = 0, prefetch_of: int | None = None):
        """Move ``nbytes`` over the shared DRAM engine in ``pieces`` requests (transfers interleave; a lower
        ``priority`` number is served first). A prefetch stops when its layer starts."""
        if nbytes <= 0:
            return
        per = nbytes / pieces
        for _ in range(pieces):
            if prefetch_of is not None and started[prefetch_of]:
                return
            with dram.request(priority=priority) as req:
                yield req
                if prefetch_of is not None:
                    if started[prefetch_of]:  # granted after its layer started: the layer streams these bytes itself
                        return
                    inflight[prefetch_of] += per  # in service: lands, and the layer counts it as fetched
                t = per / dram_bytes_per_cycle
                yield env.timeout(t)
                counters["dram"] += t
                counters["events"] += 1

    def prefetcher(i: int):
        """Layer i's weights, fetched while layer i-1 runs, if the staging buffer has room beside it."""
        need = layers[i].weight_bytes
        if not prefetch or started[i] or need <= 0 or need + layers[i - 1].working_bytes > buffer_bytes:
            return
        yield buffer.get(need)
        reserved[i] = need
        # small requests, so that the running layer's demand requests never wait long behind one (a request
        # in service is not preempted): at most an eighth of the running layer's own requests, and at most
        # MAX_PREFETCH_PIECES of them
        running = layers[i - 1]
        demand_piece = (running.stream_bytes + running.weight_bytes) / chunks
        pieces = min(max_prefetch_pieces, max(chunks, math.ceil(need / max(1.0, demand_piece / 8))))
        yield env.process(dram_transfer(need, pieces, priority=1, prefetch_of=i))

    index = {cost.name: i for i, cost in enumerate(layers)}
    deps = [[i - 1] if i and cost.inputs is None else
            sorted({index[n] for n in (cost.inputs or ()) if index.get(n, i) < i}) for i, cost in enumerate(layers)]
    done = [env.event() for _ in layers]
    dispatched = [env.event() for _ in layers]
    pool = simpy.Container(env, capacity=max(1, cores), init=max(1, cores))
    span: dict[int, tuple[float, float]] = {}

    def run_layer(i: int):
        cost = layers[i]
        if i:  # in-order dispatch: a layer asks for cores after the one before it got them
            yield dispatched[i - 1]
        if deps[i]:
            yield simpy.AllOf(env, [done[j] for j in deps[i]])
        need = min(pool.capacity, cost.cores_busy) if cost.cores_busy else pool.capacity
        yield pool.get(need)
        dispatched[i].succeed()
        start = env.now
        started[i] = True
        if i + 1 < len(layers):  # the next layer's weights start moving as soon as this layer starts
            env.process(prefetcher(i + 1))
        have = min(inflight[i], cost.weight_bytes)
        if have >= cost.weight_bytes > 0:
            prefetched.append(cost.name)
        stream = cost.stream_bytes + cost.weight_bytes - have
        yield env.timeout(cost.startup_cycles + cost.fill_cycles)
        for _ in range(chunks):
            core = env.timeout(cost.core_cycles / chunks)
            moved = env.process(dram_transfer(stream / chunks, 1))
            yield simpy.AllOf(env, [core, moved])
        if reserved[i]:
            yield buffer.put(reserved[i])
        yield pool.put(need)
        span[i] = (start, env.now)
        done[i].succeed()

    for i in range(len(layers)):
        env.process(run_layer(i))
    env.run()
    spans = tuple((layers[i].name, *span[i]) for i in range(len(layers)))
    concurrent = tuple(layers[i].name for i in range(1, len(layers)) if span[i][0] < span[i - 1][1])
    return NetworkResult(cycles=env.now, isolated_cycles=sum(c.cycles for c in layers), spans=spans,
                         prefetched=tuple(prefetched), dram_busy_cycles=counters["dram"], events=counters["events"],
                         concurrent=concurrent)


def layer_cost(name: str, t, inputs: tuple[str, ...] | None = None) -> LayerCost:
    """The network model's view of one layer's :class:`accelsim.timing.model.LayerTiming` (``inputs``: the layers it
    reads, None for the one before it)."""
    return LayerCost(name=name, cycles=t.cycles, startup_cycles=t.startup_cycles, core_cycles=t.core_cycles,
                     weight_bytes=t.weight_bytes, stream_bytes=max(0, t.dram_bytes - t.weight_bytes),
                     working_bytes=t.working_bytes, inputs=inputs, cores_busy=t.cores_busy)


def simulate_profile_network(names_and_timings, profile, inputs: dict[str, tuple[str, ...]] | None = None,
                             **options) -> NetworkResult:
    """Simulate layers (``(name, LayerTiming)`` in execution order) on ``profile``: DRAM at its bandwidth,
    prefetched weights staged in its largest on-chip level, the layers on its cores (``array.cores``, when the
    profile runs independent layers concurrently; else one layer at a time).
    ``inputs``: each layer's producers by name (a graph: independent layers may overlap); without it the layers
    form a chain. ``options``: :func:`simulate_network`'s."""
    costs = [layer_cost(name, t, inputs.get(name) if inputs is not None else None) for name, t in names_and_timings]
    staging = max((lv.bytes for lv in profile.on_chip), default=0)
    return simulate_network(costs, profile.dram.bandwidth_Bps / profile.clock_hz, staging,
                            cores=profile.array.cores if profile.concurrent_layers else 1, **options)
