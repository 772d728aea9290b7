"""Built-in checks: one module per check. Modules whose name starts with _ are helpers."""
