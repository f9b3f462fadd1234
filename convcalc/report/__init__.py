"""Renderers: each turns the same :class:`~convcalc.report.common.CheckedSpec` records into one format."""
