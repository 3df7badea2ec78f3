# Every target bootstraps .venv itself (scripts/_venv.sh). Pass extra arguments with ARGS=...,
# e.g. make test ARGS="tests/test_pg_fixture.py -x".
.PHONY: demo test bench lint

demo:
	bash scripts/demo.sh $(ARGS)

test:
	bash scripts/test.sh $(ARGS)

bench:
	bash scripts/bench.sh $(ARGS)

lint:
	bash -c 'source scripts/_venv.sh && oneclaim_venv'
	.venv/bin/ruff check .
