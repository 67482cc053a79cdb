"""The project's own error types: the CLI reports these as one line (exit 2) and the app as a message.

Anything else (a plain ValueError or KeyError from library code) is a bug and keeps its traceback.
"""
from __future__ import annotations


class ShoevaeError(Exception):
    """A problem with what the user gave (a file, a folder, an argument), with a one-line reason."""


class ConfigError(ShoevaeError, ValueError):
    """A setting out of range (batch size 0, negative beta ...)."""


class CheckpointError(ShoevaeError, ValueError):
    """A checkpoint that cannot be used, with a one-line reason (here, not in checkpoint.py, so the app can catch it
    before torch is imported)."""


class UnknownItemError(ShoevaeError, KeyError):
    """An item id that is not in the catalogue."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else "unknown item"
