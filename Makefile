# advlab: one-command setup, reports, tests and benchmarks.
#
#   make reports                      run every notebook at its default preset, write reports/*.html
#   make reports STUDY=quickstart PRESET=smoke PARAMS="epochs=1 seed=3"
#   make reports STUDY=quickstart SEEDS=0,1,2 SWEEP="epochs=[1,2]"   many runs on Dask, plus an aggregate
#   make test                         unit tests, notebooks under nbval (smoke preset), runner test
#   make lab                          JupyterLab on notebooks/ with the project's kernel
#   make bench                        PGD and training throughput of the quickstart CNN
#
# Both `reports` and `test` build the environment first when needed (`make setup`).

PYTHON ?= python3
comma  := ,
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.advlab-installed

STUDY  ?=
PRESET ?= default
PARAMS ?=
SEEDS  ?=
SWEEP  ?=
SCHEDULER ?=

.PHONY: setup constraints reports test lab bench clean help

help:
	@sed -n '2,11p' Makefile | sed 's/^# \{0,1\}//'

setup: $(STAMP)

# Reinstall when the dependencies change. Exact versions come from constraints.txt (the tested lock);
# pyproject.toml keeps ranges. The kernel is registered inside the venv (--sys-prefix), so JupyterLab
# and papermill find it as "advlab" without touching the user's own Jupyter setup.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -c constraints.txt -e '.[test,lab]'
	$(PY) -m ipykernel install --sys-prefix --name advlab --display-name "Python (advlab)"
	@touch $(STAMP)

# Rewrite constraints.txt from the environment `make setup` built (after changing a range, say).
constraints: setup
	@{ sed -n '1,/^# Regenerate/p' constraints.txt; $(PY) -m pip freeze --exclude-editable | grep -v '^advlab'; } > constraints.new
	@mv constraints.new constraints.txt

reports: setup
	$(VENV)/bin/advlab run $(STUDY) --preset $(PRESET) $(foreach p,$(PARAMS),-p $(p)) \
	  $(if $(SEEDS),--seeds $(subst $(comma), ,$(SEEDS))) $(foreach s,$(SWEEP),--sweep $(s)) \
	  $(if $(SCHEDULER),--scheduler $(SCHEDULER))

test: setup
	$(PY) -m pytest

lab: setup
	$(VENV)/bin/advlab lab notebooks

bench: setup
	$(VENV)/bin/advlab bench

clean:
	rm -rf reports/*/ reports/*.partial reports/index.html reports/index.csv build .pytest_cache
