"""python -m tools.command: the operator's command tokens (docs/CONTROL.md)."""
