"""mailkeep: an all-in-one, secure-by-default mail server."""

__version__ = "0.1.0"
