"""Charts as SVG, drawn on the server with matplotlib, made safe to put inline in a page.

matplotlib writes styles as ``style`` attributes and a ``<style>`` element, which the console's and
the portal's Content-Security-Policy (``style-src 'self'``, no inline style) would block. So the SVG
is rewritten: parsed, every element checked against a short list of drawing elements, every
``style`` turned into presentation attributes (``fill="…"``), every other attribute checked against a
list, links kept only within the document (``#id``). No script, no event handler, no reference to
anything outside the SVG survives. Text is drawn as paths (``svg.fonttype = "path"``), so no font is
loaded.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Sequence

ELEMENTS = frozenset(
    {
        "svg",
        "g",
        "path",
        "rect",
        "circle",
        "ellipse",
        "line",
        "polyline",
        "polygon",
        "defs",
        "use",
        "clipPath",
        "title",
        "desc",
    }
)
ATTRIBUTES = frozenset(
    {
        "id",
        "d",
        "x",
        "y",
        "width",
        "height",
        "viewBox",
        "transform",
        "points",
        "x1",
        "x2",
        "y1",
        "y2",
        "cx",
        "cy",
        "r",
        "rx",
        "ry",
        "fill",
        "fill-opacity",
        "fill-rule",
        "stroke",
        "stroke-width",
        "stroke-opacity",
        "stroke-linecap",
        "stroke-linejoin",
        "stroke-dasharray",
        "stroke-dashoffset",
        "stroke-miterlimit",
        "opacity",
        "clip-path",
        "clip-rule",
        "clipPathUnits",
        "version",
        "preserveAspectRatio",
        "role",
        "aria-label",
    }
)
_SAFE_VALUE = re.compile(r"^[#%(),.\-+\w\s:]*$")
_lock = threading.Lock()  # pyplot keeps global state


def _clean(element: ET.Element) -> ET.Element | None:
    tag = element.tag.split("}", 1)[-1]
    if tag not in ELEMENTS:
        return None
    out = ET.Element(tag)
    if tag in ("title", "desc"):
        out.text = element.text
    for name, value in element.attrib.items():
        local = name.split("}", 1)[-1]
        if local == "style":
            for part in value.split(";"):
                key, _sep, val = part.partition(":")
                key, val = key.strip(), val.strip()
                if key in ATTRIBUTES and _SAFE_VALUE.match(val) and "url" not in val:
                    out.set(key, val)
        elif local == "href":
            if value.startswith("#") and re.fullmatch(r"#[\w\-.]+", value):
                out.set("href", value)
        elif local in ATTRIBUTES and _SAFE_VALUE.match(value):
            if "url(" in value and not re.fullmatch(r"url\(#[\w\-.]+\)", value):
                continue
            out.set(local, value)
    for child in element:
        cleaned = _clean(child)
        if cleaned is not None:
            out.append(cleaned)
    return out


def _prefix_ids(root: ET.Element, prefix: str) -> None:
    """Make ids unique to this chart, so several charts can share one page."""
    for element in root.iter():
        if "id" in element.attrib:
            element.set("id", prefix + element.attrib["id"])
        href = element.attrib.get("href")
        if href:
            element.set("href", "#" + prefix + href[1:])
        clip = element.attrib.get("clip-path")
        if clip:
            element.set("clip-path", clip.replace("url(#", "url(#" + prefix))


def sanitise(svg: str, *, label: str = "") -> str:
    """An SVG document as a safe inline ``<svg>`` element (see the module's docstring)."""
    root = ET.fromstring(svg)  # noqa: S314 (our own matplotlib output; nothing external is resolved)
    cleaned = _clean(root)
    if cleaned is None:
        raise ValueError("not an SVG document")
    _prefix_ids(cleaned, "c" + hashlib.blake2b(svg.encode(), digest_size=5).hexdigest() + "-")
    # No xmlns: inline in HTML the parser puts <svg> in the SVG namespace itself (and the portal's
    # pages carry no "http://" at all).
    cleaned.set("role", "img")
    if label:
        cleaned.set("aria-label", label)
    for name in ("width", "height"):
        cleaned.attrib.pop(name, None)  # scale with the page
    return ET.tostring(cleaned, encoding="unicode", short_empty_elements=True)


def bar_chart(labels: Sequence[str], values: Sequence[int], *, title: str = "", line: bool = False) -> str:
    """A bar chart (or a line, for time series) of ``values``, as safe inline SVG."""
    import matplotlib

    matplotlib.use("svg")
    from matplotlib.figure import Figure

    with _lock:
        matplotlib.rcParams["svg.fonttype"] = "path"
        matplotlib.rcParams["svg.hashsalt"] = "hotline"  # stable ids: the same numbers give the same SVG
        matplotlib.rcParams["font.family"] = "DejaVu Sans"
        height = 2.8 if line or len(labels) <= 8 else 0.6 + 0.28 * len(labels)
        figure = Figure(figsize=(6.4, height), dpi=72)
        axes = figure.subplots()
        positions = list(range(len(labels)))
        if line:
            axes.plot(positions, list(values), color="#1f5f99", marker="o" if len(values) <= 40 else None)
            axes.set_ylim(bottom=0)
            step = max(1, len(labels) // 8)
            axes.set_xticks(positions[::step], [labels[i] for i in positions[::step]], rotation=30, ha="right")
        else:
            axes.barh(positions, list(values), color="#1f5f99")
            axes.set_yticks(positions, list(labels))
            axes.invert_yaxis()
        if title:
            axes.set_title(title, fontsize=11)
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return sanitise(buffer.getvalue(), label=title)
