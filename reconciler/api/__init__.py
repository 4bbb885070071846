"""HTTP API and web dashboard (`ao serve`), on top of the same service functions as the CLI."""
