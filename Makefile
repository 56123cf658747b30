# The two commands a user needs: `make demo` and `make test` (both set up .venv first).
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.classroomkd-setup

.PHONY: setup demo test test-slow clean-venv

setup: $(STAMP)

$(STAMP): tools/setup/install.sh tools/setup/cxx requirements/build.txt requirements/runtime.txt setup.py
	bash tools/setup/install.sh
	touch $@

demo: setup
	PYTHONUNBUFFERED=1 $(PY) tools/demo.py

test: setup
	$(PY) -m pytest tests

# Tests marked slow (full-size models, long schedules): not part of `make test`.
test-slow: setup
	$(PY) -m pytest tests -m slow

clean-venv:
	rm -rf $(VENV)
