"""engine.sync."""
