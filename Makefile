# Stride: `make demo` runs the platform with simulated athletes, `make test` runs every test.
.PHONY: setup demo test test-unit test-cluster lint down clean

STRIDE := .venv/bin/stride

setup:            ## install system packages (if missing) and the virtual env
	@bash stack/bootstrap.sh

demo: setup       ## start the local stack and stream simulated athletes through it
	@$(STRIDE) demo

test: setup       ## the whole suite; starts and stops the stack it needs
	@bash stack/run_tests.sh

test-cluster: setup  ## three hosts in network namespaces: a host killed, one cut off (root; ~8–13 min)
	@.venv/bin/python -m pytest -m cluster -s -p no:cacheprovider; rc=$$?; \
	  $(STRIDE) cluster down >/dev/null 2>&1; exit $$rc

test-unit: setup  ## only the pure tests (no services)
	@.venv/bin/python -m pytest -m unit

lint: setup
	@.venv/bin/ruff check actors streams serve models storage gateway stack privacy tests
	@.venv/bin/mypy actors privacy streams/events.py

down:             ## stop the local stack (data is kept under .stack/)
	@$(STRIDE) stack down

clean: down       ## stop the stack and delete its data
	rm -rf .stack
