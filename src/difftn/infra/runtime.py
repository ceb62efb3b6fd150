"""Where and how a stage computes: device, dtype, threads, heap, wall time and peak memory."""

import ctypes
import functools
import resource
import signal
import sys
import threading
import time
from contextlib import contextmanager

import torch

__all__ = ["DEVICES", "DTYPES", "resolve_device", "resolve_dtype", "set_threads", "trim_heap", "measure",
           "sigterm_as_exit"]

#: Allowed device strings: ``auto`` picks CUDA when present, else CPU.
DEVICES = ("auto", "cpu", "cuda")
#: Allowed dtype strings.
DTYPES = {"float64": torch.float64, "float32": torch.float32}


def resolve_device(device: str = "auto") -> torch.device:
    """Turn ``auto``/``cpu``/``cuda`` into a torch.device; ``cuda`` without a GPU is an error."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but no CUDA GPU is available")
    return torch.device(device)


def resolve_dtype(dtype: str = "float64") -> torch.dtype:
    """Turn ``float64``/``float32`` into a torch dtype."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    return DTYPES[dtype]


def set_threads(threads: int) -> None:
    """Pin torch's intra-op threads (oversubscribed BLAS threads are 10-50x slower)."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    torch.set_num_threads(int(threads))


@functools.cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # no glibc (musl)
        return None


def trim_heap() -> bool:
    """Give the free pages inside the heap back to the OS (glibc's ``malloc_trim(0)``).

    Long loops that keep small blocks alive between large freed temporaries
    let glibc carve the small ones out of the freed large ones and take fresh
    heap for the next large one; the freed remainder stays resident (RSS grows
    with the loop, the live memory does not).  Returns False where glibc is
    absent (macOS, musl), where it does nothing.
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def peak_memory_mb(device: torch.device | None = None) -> float:
    """Peak resident memory of this process in MB (peak GPU memory on CUDA).

    On Linux the kernel's high-water mark of this program's resident set
    (``VmHWM``). Not ``ru_maxrss``: Linux carries that over from the parent
    through fork and exec, so a stage started by a large process (Snakemake
    with torch loaded, a pytest worker) would report at least the parent's size.
    """
    if device is not None and device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024  # bytes on macOS, KB elsewhere


@contextmanager
def measure(device: torch.device | None = None):
    """Context manager yielding a dict filled with ``wall_time_s`` and ``peak_memory_mb``."""
    record = {}
    start = time.perf_counter()
    try:
        yield record
    finally:
        record["wall_time_s"] = time.perf_counter() - start
        record["peak_memory_mb"] = peak_memory_mb(device)


@contextmanager
def sigterm_as_exit():
    """Inside the block, SIGTERM raises ``SystemExit`` (so ``finally`` clauses run) instead of ending the process.

    SLURM at the time limit, ``scancel`` and ``kill`` send SIGTERM; a long
    stage can then write what it holds before it exits.  Only the main thread
    can install signal handlers; elsewhere the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_on_sigterm(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
