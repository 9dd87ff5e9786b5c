"""calferry: ferries calendar items between a technician's own calendar and the Autotask PSA."""

__version__ = "0.1.0"
