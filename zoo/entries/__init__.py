"""Built-in zoo entries (registered on import)."""
