"""engine.protocol."""
