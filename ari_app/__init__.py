"""hotel-operator: the ARI application and everything a call needs."""

__version__ = "0.1.0"
