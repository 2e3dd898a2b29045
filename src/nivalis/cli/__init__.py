"""The `nivalis` command line (typer): one module per command group."""
