"""The package version: a leaf every module may import (``animalsort/__init__`` re-exports the API)."""

__version__ = "0.1.0"
