"""`ao send`: messages typed into an agent's terminal, with sender provenance and a record.

This package is on the path of every `ao send`, which agents run all day: it imports only the
standard library (plus ao's own light modules), never pydantic, typer or sqlite-utils.
"""
