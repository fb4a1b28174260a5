"""jobdeck: a control plane for scheduled jobs."""

__version__ = "0.1.0"
