# The two commands a user needs: `make demo` and `make test` (both set up .venv first).
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.classroomkd-setup

.PHONY: setup data demo test test-slow clean-venv

setup: $(STAMP)

$(STAMP): tools/setup/install.sh tools/setup/cxx requirements/build.txt requirements/runtime.txt setup.py
	bash tools/setup/install.sh
	touch $@

# Fashion-MNIST in data/fashion_mnist/ (the demo falls back to the digits without it).
data: setup
	$(PY) tools/prepare_fashion_mnist.py

demo: setup
	PYTHONUNBUFFERED=1 $(PY) tools/demo.py

test: setup
	$(PY) -m pytest tests

# Tests marked slow (full-size models, long schedules): not part of `make test`.
test-slow: setup
	$(PY) -m pytest tests -m slow

clean-venv:
	rm -rf $(VENV)
