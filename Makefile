# Shortcuts; each target is one of the scripts in scripts/ (which work without make too).
.PHONY: setup demo test bench bench-readme schema

setup:
	bash scripts/setup.sh

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

# The speed table of every figure (bench/table.py); e.g. make bench BENCH_ARGS="--quick --only 1,3".
bench: setup
	.venv/bin/python bench/table.py $(BENCH_ARGS)

# The same, written into the README's "Speed" section.
bench-readme: setup
	.venv/bin/python bench/table.py --markdown --write-readme README.md $(BENCH_ARGS)

schema: setup
	.venv/bin/ao schema > manifests/schema/ao-v1.schema.json
