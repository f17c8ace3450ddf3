"""pymorphy3's dictionaries read through a memory map of their files instead of into the heap.

pymorphy3 keeps each language's word list as DAWGs (``dawg_python``), which read every file into an
``array`` of units: about 30 MB of heap for Russian and Ukrainian, in every process that loads them
(in ``hotline serve``, shared by its forked children only as long as no page is copied). Mapped, the
same units are the files' pages in the kernel's page cache: read-only, shared by every process, and
only the pages a lookup touches are resident (a search touches a few dozen of them).

``dawg_python`` reads a unit array with ``array.fromfile`` after a 4-byte count; :func:`install`
makes its two readers (``Dictionary`` and ``Guide``) take a read-only ``memoryview`` of the mapped
file there instead, cast to the array's unit type, which indexes like the array. A stream that is
not a file (no ``fileno``) is read as before.
"""

from __future__ import annotations

import io
import mmap
import struct
from typing import Any, Literal

from dawg_python import wrapper

_installed = False


def _mapped_units(fp: Any, count: int, typecode: Literal["I", "B"]) -> memoryview | None:
    """``count`` units of ``typecode`` at ``fp``'s position, mapped; ``fp`` moves past them. None if
    ``fp`` is not a regular file."""
    try:
        fileno = fp.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None
    start = fp.tell()
    size = count * struct.calcsize(typecode)
    mapped = mmap.mmap(fileno, 0, access=mmap.ACCESS_READ)
    if start + size > len(mapped):
        mapped.close()
        raise EOFError("the dictionary file is shorter than its header says")
    fp.seek(start + size)
    # The memoryview keeps the map open for as long as the dictionary lives.
    return memoryview(mapped)[start : start + size].cast(typecode)


def _read_dictionary(self: Any, fp: Any) -> None:
    (count,) = struct.unpack("=I", fp.read(4))
    units = _mapped_units(fp, count, "I")
    if units is None:
        self._units.fromfile(fp, count)
    else:
        self._units = units


def _read_guide(self: Any, fp: Any) -> None:
    (count,) = struct.unpack("=I", fp.read(4))
    units = _mapped_units(fp, count * 2, "B")
    if units is None:
        self._units.fromfile(fp, count * 2)
    else:
        self._units = units


def install() -> None:
    """Make ``dawg_python`` map the dictionaries it loads from now on (idempotent)."""
    global _installed
    if _installed:
        return
    wrapper.Dictionary.read = _read_dictionary
    wrapper.Guide.read = _read_guide
    _installed = True
