# Stride: `make demo` runs the platform with simulated athletes, `make test` runs every test.
.PHONY: setup demo test test-tls test-unit test-cluster lint down clean

STRIDE := .venv/bin/stride

setup:            ## install system packages (if missing) and the virtual env
	@bash stack/bootstrap.sh

demo: setup       ## start the local stack and stream simulated athletes through it
	@$(STRIDE) demo

test: setup       ## the whole suite; starts and stops the stack it needs
	@bash stack/run_tests.sh

# STRIDE_TLS is off by default for now: this starts a second stack of its own (.stack-tls) with
# mutual TLS on every hop, checks that each server refuses clients without the stack's
# certificate and streams a workout end to end over it, then stops it (~4 min).
test-tls: setup   ## mutual TLS: refusal tests and the walking skeleton on a TLS stack
	@$(STRIDE) stack status >/dev/null 2>&1; if [ $$? -ne 3 ]; then \
	  echo "test-tls uses the stack's ports: stop the running stack first (make down)"; exit 1; fi
	@STRIDE_TLS=on STRIDE_HOME=$(CURDIR)/.stack-tls bash stack/run_tests.sh -p no:cacheprovider \
	  tests/integration/test_mtls.py tests/e2e/test_walking_skeleton.py

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
