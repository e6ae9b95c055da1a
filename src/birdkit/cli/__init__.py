"""Command-line interface (typer + rich). Only this package prints; the library logs."""
