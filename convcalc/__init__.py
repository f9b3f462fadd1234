"""convcalc: CNN shape and parameter calculator with static analysis."""

__version__ = "0.1.0"
