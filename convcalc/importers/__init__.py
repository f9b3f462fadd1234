"""Readers of other frameworks' model files, as data: nothing in a file is ever run."""
