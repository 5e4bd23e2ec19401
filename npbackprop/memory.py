"""How much memory a run will need, checked before anything big is allocated.

    memory.require(2 * 10**9, "the model", "lower --n-hidden")   # NpbackpropError if it cannot fit
    memory.available_bytes()                                       # MemAvailable, or None

A MemoryError comes late or not at all: Linux overcommits, so a huge array is
often granted and the process is killed when it touches the pages. An
estimate compared with /proc/meminfo's MemAvailable says it in one line first.
Where that figure is unknown (another system, no /proc), nothing is refused.
"""

from npbackprop.errors import NpbackpropError

MEMINFO = "/proc/meminfo"


def available_bytes(meminfo=MEMINFO):
    """MemAvailable in bytes, or None when it cannot be read."""
    try:
        with open(meminfo) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key == "MemAvailable":
                    number, *unit = value.split()
                    return int(number) * (1024 if unit == ["kB"] else 1)
    except (OSError, ValueError):
        return None
    return None


def human(n):
    """A byte count for a message: 1.2 GB, 340 MB."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


def require(needed, what, advice, *, available=None, meminfo=MEMINFO):
    """Raise NpbackpropError when `needed` bytes exceed the memory available.

    what: what needs them ("the model and its training buffers"); advice:
    what to do ("lower --n-hidden"). available: bytes, default MemAvailable;
    when neither is known nothing is refused.
    """
    available = available if available is not None else available_bytes(meminfo)
    if available is not None and needed > available:
        raise NpbackpropError(f"{what} would need about {human(needed)} of memory, but this "
                              f"machine has {human(available)} available: {advice}")
