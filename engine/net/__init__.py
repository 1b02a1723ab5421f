"""engine.net."""
