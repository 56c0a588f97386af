# Supportbot: `make run` serves the product with its demo knowledge base; `make test` runs the tests.
# Both set up everything they need (virtualenv, dependencies, embedded database) through `make install`.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install run up test browser lint format bench migrations-check

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=26.1.2"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_setup
	@echo "Supportbot on http://127.0.0.1:$(PORT)/"
	$(BIN)/daphne -b 127.0.0.1 -p $(PORT) supportbot.asgi:application

# Scaled out on one machine (Procfile, run by honcho): Redis (a local one unless REDIS_URL is given), two daphne
# servers on UP_PORT_1/UP_PORT_2, a Celery worker and beat, all on one database. Set-up runs in-process first.
UP_REDIS_PORT ?= 6390
UP_PORT_1 ?= 8001
UP_PORT_2 ?= 8002
export UP_REDIS_PORT UP_PORT_1 UP_PORT_2
up: install
	mkdir -p $${SUPPORTBOT_DATA_DIR:-.data}/redis
	env -u REDIS_URL $(BIN)/python manage.py migrate --noinput
	env -u REDIS_URL $(BIN)/python manage.py demo_setup
	@echo "Supportbot on http://127.0.0.1:$(UP_PORT_1)/ and http://127.0.0.1:$(UP_PORT_2)/"
	@if [ -n "$$REDIS_URL" ]; then \
	  exec $(BIN)/honcho -f Procfile start web1 web2 worker beat; \
	else \
	  REDIS_URL=redis://127.0.0.1:$(UP_REDIS_PORT)/0 exec $(BIN)/honcho -f Procfile start; \
	fi

test: install browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Browser tests drive Debian's chromium (never a browser downloaded by Playwright); a Korean font (fonts-nanum)
# makes the Korean widget's screenshot readable instead of boxes.
browser:
	@{ command -v chromium >/dev/null 2>&1 && [ -d /usr/share/fonts/truetype/nanum ]; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-nanum >/dev/null; \
	  else \
	    echo "Browser tests need Debian's chromium (and fonts-nanum): sudo apt-get install chromium fonts-nanum"; \
	    command -v chromium >/dev/null 2>&1 || exit 1; \
	  fi; }

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Benchmarks are packages under bench/, run as modules (docs/benchmarks.md); this is the knowledge-base one.
bench: install
	$(BIN)/python -m bench.retrieval

migrations-check: install
	$(BIN)/python manage.py makemigrations --check --dry-run
