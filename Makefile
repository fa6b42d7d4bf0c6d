PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install migrate bench e2e-n8n e2e-wordpress clean

run: install migrate
	$(BIN)/python manage.py ensure_demo
	rm -rf var/prometheus  # metrics files of the last run's processes (prometheus_client multiprocess mode)
	PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/var/prometheus $(BIN)/honcho start -f Procfile.dev

test: install
	$(BIN)/pytest

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

migrate: install
	$(BIN)/python manage.py migrate --noinput

bench: install
	$(BIN)/python -m bench.run

e2e-n8n: install
	$(BIN)/python e2e/n8n/run.py

e2e-wordpress: install
	$(BIN)/python e2e/wordpress/run.py

clean:
	rm -rf $(VENV) var staticfiles
