"""Vega-Lite chart specs as plain dicts for st.vega_lite_chart: the Metrics page draws seven charts on every run, and
building them through altair's object model (schema validation included) took most of its server time at 50,000
examples (`python -m benchmarks.app`). Each function returns one spec; the page passes its data frame along."""

from __future__ import annotations


def field(name: str, kind: str, title: str | None = None, **extra) -> dict:
    out = {"field": name, "type": kind, **extra}
    if title is not None:
        out["title"] = title
    return out


def lines(x: dict, y: dict, color: dict | None = None, tooltip: list[str] = (), title: str | None = None,
          points: bool = True, height: int | None = None) -> dict:
    """A line per color, with its points."""
    spec = {"mark": {"type": "line", "point": points, "tooltip": bool(tooltip)},
            "encoding": {"x": x, "y": y, **({"color": color} if color else {}),
                         **({"tooltip": [{"field": t} for t in tooltip]} if tooltip else {})}}
    if title:
        spec["title"] = title
    if height:
        spec["height"] = height
    return spec


def with_rules(base: dict, rules: list[dict], y: str, color: dict, tooltip: list[str]) -> dict:
    """`base` with a dashed horizontal rule at each row's `y` (e.g. the starting student's accuracy)."""
    rule = {"data": {"values": rules}, "mark": {"type": "rule", "strokeDash": [4, 4], "tooltip": True},
            "encoding": {"y": {"field": y, "type": "quantitative"}, "color": color,
                         "tooltip": [{"field": t} for t in tooltip]}}
    layer = {k: v for k, v in base.items() if k != "title"}
    return {"title": base.get("title"), "layer": [layer, rule]}


def band_and_lines(x: dict, low: str, high: str, y: dict, color: str, tooltip: list[str]) -> dict:
    """Mean lines with a shaded band from `low` to `high`."""
    shared = {"x": x, "color": {"field": color, "type": "nominal"}}
    return {"layer": [
        {"mark": {"type": "area", "opacity": 0.15},
         "encoding": {**shared, "y": {"field": low, "type": "quantitative", "scale": {"zero": False}},
                      "y2": {"field": high}}},
        {"mark": {"type": "line", "point": True, "tooltip": True},
         "encoding": {**shared, "y": y, "tooltip": [{"field": t} for t in tooltip]}}]}


def histogram_facets(start: str, end: str, count: str, color: str, facet: str, x_title: str, y_title: str,
                     columns: int = 3, width: int = 360, height: int = 220) -> dict:
    """Bars counted beforehand (start, end, count), stacked by `color`, one panel per `facet` value."""
    return {"facet": {"field": facet, "type": "ordinal", "title": facet}, "columns": columns,
            "spec": {"width": width, "height": height, "mark": {"type": "bar", "opacity": 0.7, "tooltip": True},
                     "encoding": {"x": {"field": start, "type": "quantitative", "title": x_title},
                                  "x2": {"field": end},
                                  "y": {"field": count, "type": "quantitative", "title": y_title, "stack": True},
                                  "color": {"field": color, "type": "nominal"},
                                  "tooltip": [{"field": facet}, {"field": color}, {"field": count}]}}}


def bars(x: dict, y: dict, title: str | None = None) -> dict:
    spec = {"mark": {"type": "bar", "tooltip": True}, "encoding": {"x": x, "y": y}}
    if title:
        spec["title"] = title
    return spec
