"""The `ao` command line: thin typer commands over reconciler.reconcile.service."""
