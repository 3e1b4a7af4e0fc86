# advlab: one-command setup, reports, tests and benchmarks.
#
#   make reports                      run every notebook at its default preset, write reports/*.html
#   make reports STUDY=quickstart PRESET=smoke PARAMS="epochs=1 seed=3"
#   make reports STUDY=quickstart SEEDS=0,1,2 SWEEP="epochs=[1,2]"   many runs on Dask, plus an aggregate
#   make test                         unit tests, notebooks under nbval (smoke preset), runner test
#   make lab                          JupyterLab on notebooks/ with the project's kernel
#   make bench                        PGD and training throughput (installs the torchattacks comparison)
#   make setup-gpu                    on a Linux GPU machine: also .venv-tf, TensorFlow with its CUDA 12 libraries
#   make gpu-check                    both frameworks on the GPU, every smoke preset with device=cuda
#   make gpu-reports PRESET=full      every study on the GPU (gpu preset unless PRESET is given)
#
# Both `reports` and `test` build the environment first when needed (`make setup`).

PYTHON ?= python3
comma  := ,
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.advlab-installed
# The TensorFlow GPU environment: TensorFlow's CUDA 12 libraries and a CPU build of torch (PyPI's torch brings
# CUDA 13 libraries that write the same nvidia/cudnn and nvidia/nccl files; README, "On a GPU").
VENV_TF ?= .venv-tf
TF_STAMP := $(VENV_TF)/.advlab-installed
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
TF_STUDIES    := flickr_transfer_attacks
TORCH_STUDIES := quickstart histology_defense cifar_robust_training mnist_uncertainty_detection gan_attacker

STUDY  ?=
PRESET ?= default
PARAMS ?=
SEEDS  ?=
SWEEP  ?=
SCHEDULER ?=

.PHONY: setup setup-gpu constraints reports gpu-reports test lab bench gpu-check clean help

help:
	@sed -n '2,13p' Makefile | sed 's/^# \{0,1\}//'

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

# torchattacks pins requests~=2.25.1, which no advlab environment can hold: installed with --no-deps once
# `advlab bench` has checked that what it imports is present.
bench: setup
	$(VENV)/bin/advlab bench --install-comparison

setup-gpu: setup $(TF_STAMP)

$(TF_STAMP): pyproject.toml constraints.txt constraints-gpu.txt
	@test -x $(VENV_TF)/bin/python || $(PYTHON) -m venv $(VENV_TF)
	$(VENV_TF)/bin/python -m pip install --upgrade pip
	$(VENV_TF)/bin/python -m pip install --no-deps --index-url $(TORCH_CPU_INDEX) $$(grep -E '^torch(vision)?==' constraints.txt)
	$(VENV_TF)/bin/python -m pip install -c constraints.txt -c constraints-gpu.txt -e '.[gpu]'
	@touch $(TF_STAMP)

gpu-check: setup
	$(VENV)/bin/advlab gpu-check

gpu-reports: setup-gpu
	$(VENV)/bin/advlab run $(TORCH_STUDIES) --preset $(if $(filter default,$(PRESET)),gpu,$(PRESET)) -p device=cuda; \
	  torch=$$?; \
	  $(VENV_TF)/bin/advlab run $(TF_STUDIES) --preset $(if $(filter default,$(PRESET)),gpu,$(PRESET)) -p device=cuda; \
	  tf=$$?; exit $$(( torch || tf ))

clean:
	rm -rf reports/*/ reports/*.partial reports/index.html reports/index.csv build .pytest_cache
