# Two commands: `make run` starts Deck with a demo login; `make test` runs the whole suite.
.PHONY: run test check bootstrap

PYTEST_ARGS ?=

run:
	scripts/run

bootstrap:
	scripts/bootstrap

test: bootstrap
	.venv/bin/pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory check

check: bootstrap
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy .
