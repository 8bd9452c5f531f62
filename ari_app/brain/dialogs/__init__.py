"""The embedded brain's dialog flows, one module each, combined by ``ari_app.brain.embedded``."""
