"""ao: keep a fleet of AI coding agent sessions the way its manifests declare it."""

__version__ = "0.1.0"
