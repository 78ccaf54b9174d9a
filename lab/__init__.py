"""Dynamic Task Mapping Lab helpers."""
