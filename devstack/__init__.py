"""devstack: a process supervisor for multi-service local development stacks."""

__version__ = "0.1.0"

__all__ = ("__version__",)
