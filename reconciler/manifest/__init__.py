"""Manifests: the YAML documents users write to declare projects, orchestrators and workers."""
