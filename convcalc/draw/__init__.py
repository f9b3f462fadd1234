"""Pictures of the network: the volumes of CNN courses, drawn from the analysis facts (SVG, no dependencies)."""

from convcalc.draw.svg import Node, build_nodes, draw_svg

__all__ = ["Node", "build_nodes", "draw_svg"]
