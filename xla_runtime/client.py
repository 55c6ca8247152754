"""The PJRT-like client surface: Client -> compile -> Executable -> execute -> Buffers.

execute() checks its arguments, hands the work to the executor and returns one Buffer per result
leaf at once. Cheap executions (small buffers, no loops) run inside execute() on the caller's
thread; others run on the executor's worker pool, and execute() returns before they finish.
Arguments that are Buffers still being computed are waited for without blocking: the execution
starts from the callback that completes the last of them.
"""
from __future__ import annotations

from time import perf_counter_ns
from typing import Any, Sequence

import numpy as np

from async_values import AsyncValue, make_available, make_error, run_when_ready

from . import module_cache, profiler
from .backends import available_backends, get_backend
from .buffer import Buffer, Device
from .errors import BufferDeletedError
from .executor import Frame, default_pool, execute_graph
from .executor.pool import Task
from .hlo import HloModule, parse_hlo
from .hlo.shape import Shape, TupleShape
from .verifier import verify


def load_module(text_or_module: str | HloModule) -> HloModule:
    """Parse HLO text or StableHLO MLIR text (told apart by how the text starts), or pass a module
    through, and verify it."""
    if isinstance(text_or_module, HloModule):
        module = text_or_module
    else:
        if not isinstance(text_or_module, str):
            raise TypeError(f"compile() takes HLO or StableHLO text or an HloModule, "
                            f"got {type(text_or_module).__name__}")
        from .stablehlo import looks_like_stablehlo, parse_stablehlo
        if looks_like_stablehlo(text_or_module):
            module = parse_stablehlo(text_or_module)
        else:
            module = parse_hlo(text_or_module)
    verify(module)
    return module


def _describe(shape: Shape) -> str:
    return str(shape.without_layout()) if hasattr(shape, "without_layout") else str(shape)


# -- arguments -------------------------------------------------------------------------------------

def check_arguments(module: HloModule, args: Sequence[Any]) -> list:
    """Check arguments against the entry parameters (count, dtype, shape) and turn each into an
    AsyncValue of its array (tuples for tuple parameters). Raises before anything runs."""
    return ArgumentChecker(module)(args)


class ArgumentChecker:
    """check_arguments with the per-parameter facts computed once (execute() calls it every time)."""

    def __init__(self, module: HloModule):
        self.module = module
        self.params = module.entry.parameters
        # (dtype, dims) for plain array parameters: the fast path compares exactly these
        self.fast = [(p.shape.dtype, p.shape.dims) if p.shape.is_array else None for p in self.params]

    def __call__(self, args: Sequence[Any]) -> list:
        params = self.params
        if len(args) != len(params):
            raise TypeError(f"{self.module.name} takes {len(params)} argument(s) "
                            f"({', '.join(_describe(p.shape) for p in params)}), got {len(args)}")
        out = []
        for i, (fast, a) in enumerate(zip(self.fast, args)):
            if _fits(fast, a):
                out.append(make_available(a))
            else:
                p = params[i]
                out.append(_check_argument(f"argument {i} (parameter %{p.name})", p.shape, a))
        return out

    def plain_arrays(self, args: Sequence[Any]) -> Sequence[Any] | None:
        """``args`` when every one is a NumPy array of its parameter's exact dtype and shape (the
        usual call, which then needs no AsyncValues), else None."""
        if len(args) == len(self.fast) and all(map(_fits, self.fast, args)):
            return args
        return None


def _fits(fast, a) -> bool:
    return fast is not None and type(a) is np.ndarray and a.dtype == fast[0] and a.shape == fast[1]


def _check_argument(label: str, shape: Shape, arg) -> AsyncValue:
    if isinstance(shape, TupleShape):
        if not isinstance(arg, (tuple, list)) or len(arg) != len(shape.elements):
            raise TypeError(f"{label}: expected a tuple {shape}, got {type(arg).__name__}")
        parts = [_check_argument(f"{label}[{i}]", s, a) for i, (s, a) in enumerate(zip(shape.elements, arg))]
        return _tuple_value(parts)
    if shape.is_token:
        from .interpreter import TOKEN_VALUE
        return make_available(TOKEN_VALUE)
    if isinstance(arg, Buffer):
        if arg.is_deleted():
            raise BufferDeletedError(f"{label}: {arg._describe()} was {arg._gone}")
        dtype, dims = arg.dtype, arg.shape
    elif isinstance(arg, (np.ndarray, np.generic)):
        arg = np.asarray(arg)
        dtype, dims = arg.dtype, arg.shape
    else:
        try:
            arg = np.asarray(arg, dtype=shape.dtype)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{label}: cannot convert {type(arg).__name__} to {shape.element_type}: {e}") from None
        dtype, dims = arg.dtype, arg.shape
    if dtype != shape.dtype:
        raise TypeError(f"{label}: expected dtype {shape.dtype} ({shape.element_type}), got {dtype}")
    if dims != shape.dims:
        raise ValueError(f"{label}: expected shape {_describe(shape)}, got {dtype}{list(dims)}")
    return arg._av if isinstance(arg, Buffer) else make_available(arg)


def _tuple_value(parts: list[AsyncValue]) -> AsyncValue:
    if all(p.is_concrete() for p in parts):
        return make_available(tuple(p.get() for p in parts))
    out = AsyncValue()

    def join():
        for p in parts:
            if p.is_error():
                out.set_error(p.error)
                return
        out.emplace(tuple(p.get() for p in parts))
    run_when_ready(parts, join)
    return out


def flatten_result(value) -> list:
    if isinstance(value, tuple):
        out = []
        for v in value:
            out.extend(flatten_result(v))
        return out
    return [value]


def _leaf_shapes(shape: Shape) -> list[Shape]:
    return shape.leaves() if shape.is_tuple else [shape]


def _leaf_index(shape: Shape, index: tuple[int, ...]) -> int | None:
    """Flattened leaf number of the sub-shape at ``index`` (None unless it is an array leaf)."""
    leaf = 0
    for k in index:
        if not shape.is_tuple or k >= len(shape.elements):
            return None
        leaf += sum(len(_leaf_shapes(e)) for e in shape.elements[:k])
        shape = shape.elements[k]
    return leaf if shape.is_array else None


# -- executables ------------------------------------------------------------------------------------

class Executable:
    """A compiled module. ``execute`` may be called from many threads at once."""

    def __init__(self, module: HloModule, client: "Client", optimized_already: bool = False):
        self.module = module
        self.client = client
        compile_fn = get_backend(client.backend)
        self.program = compile_fn(module, True) if optimized_already else compile_fn(module)
        root = module.entry.root.shape
        leaves = _leaf_shapes(root)
        self._outputs = [(i, s) for i, s in enumerate(leaves) if s.is_array]   # tokens are not returned
        self._aliases = self._module_aliases(root)
        self._check = ArgumentChecker(module)
        self._out_meta = [(s.dims, s.dtype) for _, s in self._outputs]
        self._buffer_type = getattr(self.program, "buffer_type", Buffer)   # device-resident results

    def _module_aliases(self, root: Shape) -> dict[int, int]:
        """input_output_alias as {result leaf: parameter number} (array parameters only)."""
        io = self.module.attrs.get("input_output_alias")
        out = {}
        for a in getattr(io, "entries", ()):
            leaf = _leaf_index(root, a.output_index)
            if leaf is not None and a.parameter_index == ():
                out[leaf] = a.parameter_number
        return out

    @property
    def name(self) -> str:
        return self.module.name

    def as_text(self) -> str:
        return self.module.to_text()

    def execute(self, *args, donate_argnums: Sequence[int] = ()) -> list[Buffer]:
        """Start an execution; returns one Buffer per array result leaf, before the work is done.

        Buffers in ``donate_argnums`` (and arguments the module's input_output_alias names) are
        donated: their memory may be reused for results, and they can no longer be read.
        NumPy arguments are not copied: do not modify them until the results are ready.
        """
        if not donate_argnums and not self._aliases:
            arrays = self._check.plain_arrays(args)
            if arrays is not None:           # the usual call: no AsyncValues for the arguments
                if not self.program.inline:
                    run = _Execution(self, arrays, None, ready=True)
                    return self._queue(run, run.pending_outputs(), [])
                direct = getattr(self.program, "direct", None)
                if direct is not None and profiler.current() is None:
                    return self._direct(direct, arrays)
                return _Execution(self, arrays, None, ready=True).now()
        inputs = self._check(args)
        donated_arrays = None
        if donate_argnums or self._aliases:
            donate = self._donations(args, donate_argnums)
            donated_arrays = {i: (args[i]._donate(self.name), args[i]._external) for i in donate}
            for i, (av, _) in donated_arrays.items():
                inputs[i] = av
        run = _Execution(self, inputs, donated_arrays)
        pending = [av for av in inputs if not av.is_available()]
        if self.program.inline:
            if not pending:
                return run.now()
            outputs = run.pending_outputs()
            run_when_ready(pending, run.start)
        else:
            outputs = self._queue(run, run.pending_outputs(), pending)
        return outputs

    def _queue(self, run: "_Execution", outputs: list[Buffer], pending: list[AsyncValue]) -> list[Buffer]:
        """Hand ``run`` to the pool once ``pending`` inputs are ready; a caller blocking on one of
        ``outputs`` may claim it first (where the program allows)."""
        pool = default_pool()
        claimable = getattr(self.program, "claimable", True)
        defer = getattr(self.program, "defer", None) if claimable and not pending else None
        task = defer(pool, run.start) if defer is not None else None
        if task is not None:             # handed to the pool later, if the caller has not claimed it
            for buf in outputs:
                buf._producer = task
            return outputs
        task = Task()
        if claimable:
            for buf in outputs:
                buf._producer = task
        if pending:
            run_when_ready(pending, lambda: pool.submit_task(task, run.start))
        else:
            pool.submit_task(task, run.start)
        return outputs

    def _direct(self, direct, arrays) -> list[Buffer]:
        """A one-kernel program called with plain arrays: run it here, no execution state."""
        try:
            values = [make_available(a) for a in direct(arrays)]
        except Exception as e:           # errors still arrive through the Buffers
            values = [make_error(e) for _ in self._out_meta]
        return self._buffers(values)

    def _buffers(self, values: list[AsyncValue]) -> list[Buffer]:
        """One Buffer per result leaf, holding ``values``."""
        device, make = self.client._device, self._buffer_type
        return [make(av, dims, dtype, device) for av, (dims, dtype) in zip(values, self._out_meta)]

    def _donations(self, args, donate_argnums) -> list[int]:
        n = len(args)
        donate = set()
        for i in donate_argnums:
            if not isinstance(i, (int, np.integer)) or not -n <= i < n:
                raise ValueError(f"donate_argnums: {i!r} is not an argument index of {self.name} ({n} arguments)")
            donate.add(int(i) % n)
        # aliased parameters are donated when given a Buffer (PJRT does the same)
        donate.update(p for p in self._aliases.values() if isinstance(args[p], Buffer))
        donate = sorted(i for i in donate if isinstance(args[i], Buffer))
        for i in donate:
            for j, other in enumerate(args):
                if j != i and other is args[i]:
                    raise ValueError(f"argument {i} of {self.name} is donated but the same Buffer is "
                                     f"also passed as argument {j}")
        return donate

    def result_aliases(self, donated: Sequence[int]) -> dict[int, int]:
        """{output position: donated parameter} for this call: the module's aliases, then each
        other donated parameter to the first free output of the same shape and dtype."""
        params = self.module.entry.parameters
        taken = {}
        for pos, (leaf, _) in enumerate(self._outputs):
            p = self._aliases.get(leaf)
            if p is not None and p in donated:
                taken[pos] = p
        for p in donated:
            if p in taken.values():
                continue
            pshape = params[p].shape
            for pos, (_, s) in enumerate(self._outputs):
                if pos not in taken and pshape.is_array and s.dims == pshape.dims and s.dtype == pshape.dtype:
                    taken[pos] = p
                    break
        return taken


class _Execution:
    """One call of execute(): binds arguments, runs the graph, makes or completes the output
    Buffers."""
    __slots__ = ("exe", "inputs", "ready", "donated", "outputs", "trace", "t0")

    def __init__(self, exe: Executable, inputs, donated, ready: bool = False):
        self.exe = exe
        self.inputs = inputs              # AsyncValues of the arguments (with ``ready``: the arrays)
        self.ready = ready
        self.donated = donated            # {param: (AsyncValue of its array, external memory?)}
        # the values the execution completes, not the Buffers: a Buffer donated or deleted before
        # its execution ends no longer holds its value
        self.outputs: list[AsyncValue] | None = None
        self.trace = profiler.current()
        self.t0 = 0

    def pending_outputs(self) -> list[Buffer]:
        buffers = self._made([AsyncValue() for _ in self.exe._out_meta])
        self.outputs = [b._av for b in buffers]
        return buffers

    def now(self) -> list[Buffer]:
        """Run on this thread (every input is available); Buffers of the results, or of the error.
        Pending Buffers only if some node finishes later."""
        try:
            done, frame = self._launch()
            if not done.is_available():
                outputs = self.pending_outputs()
                done.and_then(lambda: self._finish(done, frame))
                return outputs
            if done.is_error():
                raise done.error
            arrays = self._arrays(frame)
        except Exception as e:
            self._span(True)
            return self._made([make_error(e) for _ in self.exe._out_meta])
        self._span(False)
        return self._made([make_available(a) for a in arrays])

    def _made(self, values: list[AsyncValue]) -> list[Buffer]:
        return self.exe._buffers(values)

    def start(self) -> None:
        """Run with ``outputs`` pending (from a worker, from the completion of an input, or from
        a caller that claimed the task while waiting for it)."""
        try:
            done, frame = self._launch()
        except BaseException as e:
            self._fail(e)                 # readers get the error rather than wait forever
            if not isinstance(e, Exception):
                raise                     # a KeyboardInterrupt in a helping caller reaches it
            return
        done.and_then(lambda: self._finish(done, frame))

    def _launch(self) -> tuple[AsyncValue, Frame]:
        """Start the graph on this thread; its completion value and frame. Raises an input's error."""
        if self.ready:
            values = self.inputs
        else:
            for av in self.inputs:
                if av.is_error():
                    raise av.error
            values = [av.get() for av in self.inputs]
        program = self.exe.program
        if self.trace is not None:
            self.t0 = perf_counter_ns()
        frame = Frame(program.bind(values), profiler=self.trace, context=program.context())
        if program.numpy_nodes:
            with np.errstate(all="ignore"):     # see executor.pool.quiet_floating_point
                return execute_graph(program.graph, frame), frame
        return execute_graph(program.graph, frame), frame     # native code only: nothing to silence

    def _arrays(self, frame: Frame) -> list:
        values = self.exe.program.results(frame.buffers)
        arrays = [values[leaf] for leaf, _ in self.exe._outputs]
        if self.donated:
            self._reuse_donated(arrays)
        return arrays

    def _finish(self, done: AsyncValue, frame: Frame) -> None:
        if done.is_error():
            return self._fail(done.error)
        try:
            arrays = self._arrays(frame)
        except Exception as e:
            return self._fail(e)
        self._span(False)
        for av, arr in zip(self.outputs, arrays):
            av.emplace(arr)

    def _reuse_donated(self, arrays: list) -> None:
        """Write results into the memory of the donated inputs they alias (never into memory
        borrowed from the caller)."""
        for pos, p in self.exe.result_aliases(list(self.donated)).items():
            av, external = self.donated[p]
            dst = av.get()
            src = arrays[pos]
            if external or not isinstance(dst, np.ndarray) or not dst.flags.writeable \
                    or not dst.flags.c_contiguous or dst.shape != src.shape or dst.dtype != src.dtype:
                continue
            if any(a is dst for a in arrays):
                continue
            if dst is not src:
                np.copyto(dst, src)
            arrays[pos] = dst

    def _fail(self, error: BaseException) -> None:
        self._span(True)
        for av in self.outputs:
            av.set_error(error)

    def _span(self, error: bool) -> None:
        if self.trace is not None and self.t0:
            self.trace.record_span(self.exe.name, "execute", self.t0, perf_counter_ns(), "executions", error)


class Client:
    """Compiles modules for one backend and makes Buffers on its device."""

    def __init__(self, backend: str = "cpu"):
        get_backend(backend)   # unknown names fail here, listing the available ones
        self.backend = backend
        self._device = Device(backend, 0)

    @staticmethod
    def backends() -> list[str]:
        return available_backends()

    def devices(self) -> list[Device]:
        return [self._device]

    def compile(self, text: str | HloModule) -> Executable:
        """Compile HLO or StableHLO text (or a parsed module). Text compiled before on this backend
        (with XRT_CACHE_DIR set, as by default) comes back from the optimized-module cache without
        parsing or passes; its executable's ``module`` is then the optimized one."""
        if isinstance(text, str):
            cached = module_cache.load(text, self.backend)
            if cached is not None:
                return Executable(cached, self, optimized_already=True)
        exe = Executable(load_module(text), self)
        if isinstance(text, str) and getattr(exe.program, "pipeline", None) is not None:
            module_cache.store(text, self.backend, exe.program.module)
        return exe

    def buffer_from_numpy(self, array, copy: bool | None = None) -> Buffer:
        """A Buffer holding ``array``. Without a copy where that is safe: the array is read-only,
        C-contiguous and aligned (copy=None), or the caller promises not to modify it (copy=False)."""
        arr = np.asarray(array)
        can_share = arr.flags.c_contiguous and arr.flags.aligned and arr.dtype.isnative
        if copy is False and not can_share:
            raise ValueError("buffer_from_numpy(copy=False) needs a C-contiguous, aligned, native-endian array")
        if copy is None:
            copy = not (can_share and not arr.flags.writeable)
        if copy:
            return Buffer.from_array(np.array(arr, order="C", copy=True), self._device)
        return Buffer.from_array(arr, self._device, external=True)

    def buffer_from_dlpack(self, obj) -> Buffer:
        """A Buffer over another framework's array (an object with ``__dlpack__``, or a capsule):
        without a copy for memory of this client's device (the producer is kept alive until the
        Buffer and the executions using it are done); host tensors go through NumPy."""
        device = obj.__dlpack_device__() if hasattr(obj, "__dlpack_device__") else None
        importer = getattr(get_backend(self.backend), "import_external", None)
        if importer is not None and (device is None or int(device[0]) != _KDLCPU):
            return importer(obj, "dlpack", self._device)
        return self.buffer_from_numpy(np.from_dlpack(obj))

    def buffer_from_cuda_array_interface(self, obj) -> Buffer:
        """A Buffer over an object exposing ``__cuda_array_interface__`` (Numba, CuPy, PyTorch),
        without a copy; the object is kept alive as long as the memory is used. GPU clients only."""
        importer = getattr(get_backend(self.backend), "import_external", None)
        if importer is None:
            raise TypeError(f"the {self.backend!r} client has no device memory: __cuda_array_interface__ "
                            f"objects can be imported only by a GPU client")
        return importer(obj, "cuda_array_interface", self._device)


_KDLCPU = 1
