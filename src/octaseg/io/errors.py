"""The error every reader of :mod:`octaseg.io` raises on bad input data."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input data: the message names the file, what was expected and what was found."""
