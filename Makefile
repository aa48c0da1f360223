# Two commands set everything up on a fresh Debian/Ubuntu machine: `make run` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch (small). For an NVIDIA GPU: make run TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126"
TORCH_SPEC ?= torch==2.13.0

.PHONY: run test test-fast mutants venv sysdeps bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@if $(PY) -c "import torch" 2>/dev/null; then \
		echo "using the torch already installed for $(PY)"; $(PY) -m venv --system-site-packages $(VENV); \
	else $(PY) -m venv $(VENV); fi
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q $(TORCH_SPEC)
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[test]"
	@touch $@

sysdeps:
	@bash scripts/system-deps.sh

run: venv
	@if [ -z "$$DISPLAY" ] && [ -z "$$WAYLAND_DISPLAY" ]; then \
		echo "No display found. Run the window on a virtual X server:  xvfb-run -a $(BIN)/implicit-studio"; \
		echo "or headless:  $(BIN)/implicit-studio reconstruct resources/samples/torus.ply --model siren --out torus.ply"; \
		echo "or a screenshot:  xvfb-run -a $(BIN)/implicit-studio gui resources/samples/torus.ply --screenshot shot.png --exit-when-done"; \
	else $(BIN)/implicit-studio; fi

test: $(VENV)/.installed-test sysdeps
	xvfb-run -a -s "-screen 0 1600x1000x24" $(BIN)/python -m pytest -q -p no:cacheprovider tests

test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not gui" tests

# Mutation testing of the critical modules (docs/TESTING.md), one module at a time on one core: about
# an hour in all on 2 cores. Not part of `make test`. One module: make mutants MUTANTS="metrics mise"
MUTANTS ?=
mutants: $(VENV)/.installed-test
	$(BIN)/pip install -q -e ".[mutation]"
	$(BIN)/python scripts/mutants.py $(MUTANTS)

bench: venv
	EXTRA_PKGS="libusb-1.0-0" bash scripts/system-deps.sh   # Open3D's wheel links libusb
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/implicit-studio benchmark speed --json benchmarks/results/latest.json

clean:
	rm -rf $(VENV) build *.egg-info app/*.egg-info
