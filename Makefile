# Shortcuts; each target is one of the scripts in scripts/ (which work without make too).
.PHONY: setup demo test bench schema

setup:
	bash scripts/setup.sh

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

bench: setup
	.venv/bin/python bench/reconcile_scale.py

schema: setup
	.venv/bin/ao schema > manifests/schema/ao-v1.schema.json
