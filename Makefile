# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench vendor messages messages-append clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# The demo runs on secrets of its own, made once into clo-demo.env (never the well-known
# development ones, which only an explicit CLO_ENVIRONMENT=development accepts).
demo: $(STAMP)
	grep -qs CLO_WEB_SECRET_KEY clo-demo.env || $(BIN)/clo secrets generate > clo-demo.env
	set -a && . ./clo-demo.env && set +a && CLO_ENVIRONMENT=demo $(BIN)/clo demo --serve

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/clo bench replay --events 1000000 --offers 100000

# Re-copy the pinned front-end libraries from npm (infra/web/package.json) into
# service/web/static/vendor; the copies are committed, so nothing else needs npm.
vendor:
	infra/web/vendor.sh

# Re-extract the web front ends' messages and rewrite each language's catalog.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k gettext -k ngettext:1,2 --no-location \
		--omit-header -o service/web/locale/messages.pot .
	$(BIN)/python infra/web/messages.py

# Append only the new, translated messages (a small diff; `messages` rewrites everything).
messages-append: $(STAMP)
	$(BIN)/python infra/web/append_messages.py

clean:
	rm -rf $(VENV) .pytest_cache clo-demo.db* clo-demo.env
