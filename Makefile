PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Development settings: DEBUG is off unless set (marketing/settings.py). Tests set it in pytest.ini.
DEV := DEBUG=1

.PHONY: run test install migrate bench e2e-n8n e2e-wordpress e2e-api clean var

run: install migrate
	$(DEV) $(BIN)/python manage.py ensure_demo
	# Each process writes its metrics files here (prometheus_client multiprocess mode); the last run's go.
	rm -rf var/prometheus && mkdir -p var/prometheus
	$(DEV) PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/var/prometheus $(BIN)/honcho start -f Procfile.dev

# PostgreSQL and Redis when they answer on 127.0.0.1, else SQLite (tests/run.py says which);
# pytest arguments in ARGS, e.g. make test ARGS="-x tests/campaigns".
test: install
	$(BIN)/python tests/run.py $(ARGS)

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# The SQLite database and the filesystem Celery broker live under var/.
var:
	mkdir -p var/celery/queue var/celery/processed var/celery/control

migrate: install var
	$(DEV) $(BIN)/python manage.py migrate --noinput

bench: install var
	$(DEV) $(BIN)/python -m bench.run

e2e-n8n: install
	$(DEV) $(BIN)/python -m e2e.n8n.run

# Schemathesis over the whole API schema against a live server (a few minutes at most).
e2e-api: install
	$(BIN)/python -m e2e.api.run

e2e-wordpress: install
	$(DEV) $(BIN)/python -m e2e.wordpress.run

clean:
	rm -rf $(VENV) var staticfiles
