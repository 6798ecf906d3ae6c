# nyop — build, install, test, demo.
#
#   make demo     install what is missing, run the paper's example on a throwaway server
#   make test     install what is missing, run the whole test suite
#   make install  install the extension + the server-side Python into the local PostgreSQL
#   make installcheck  SQL regression tests (pg_regress) against the installed server
#
# On a fresh Debian/Ubuntu machine run these as root: missing system packages
# (PostgreSQL server, plpython3, numpy for the server's Python) are installed with apt.

SHELL        := /bin/bash
# The installed PostgreSQL (highest), else the one the distribution's `postgresql` package
# would pull in (15 on Debian 12, 16 on Ubuntu 24.04), else 15.
PG_MAJOR     ?= $(strip $(or $(shell ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1),\
                     $(shell apt-cache depends postgresql 2>/dev/null | sed -n 's/.*Depends: postgresql-\([0-9][0-9]*\)$$/\1/p' | head -n 1),\
                     15))
PG_CONFIG    ?= $(firstword $(wildcard /usr/lib/postgresql/$(PG_MAJOR)/bin/pg_config) pg_config)
VERSION      := $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" sql/nyop.control)
# Where the server's Python finds our modules and sqlglot (see sql/src/000_bootstrap.sql).
# One directory for every version's install script: the Python stays backward-compatible
# with the SQL of older versions until ALTER EXTENSION nyop UPDATE.
NYOP_LIB_DIR ?= /usr/local/lib/nyop/python
PYTHON       ?= python3
# The interpreter PL/Python embeds (Debian's), which compiles our modules at install time.
SERVER_PYTHON ?= /usr/bin/python3
VENV         ?= .venv
SQLGLOT_SPEC ?= sqlglot>=25,<31
APT_PACKAGES := postgresql-$(PG_MAJOR) postgresql-plpython3-$(PG_MAJOR) python3-numpy python3-venv

PG_BINDIR    ?= $(shell $(PG_CONFIG) --bindir 2>/dev/null)
PG_REGRESS   ?= $(dir $(shell $(PG_CONFIG) --pgxs 2>/dev/null))../test/regress/pg_regress
REGRESS      := $(sort $(notdir $(basename $(wildcard sql/regress/sql/*.sql))))
REGRESS_DB   ?= nyop_regress
REGRESS_OUT  ?= regress-results

SQL_SOURCES  := $(wildcard sql/incremental/*/*.sql sql/idempotent/*.sql sql/nyop--*.sql) sql/build.sh
SQL_BUILD    := build/nyop--$(VERSION).sql

.PHONY: all deps venv build install installcheck test demo bench clean

all: build

## System packages: only what is missing, only with apt, only when root.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "nyop: missing packages:$$missing (run as root or install them)"; exit 1; fi; \
	  echo "nyop: installing$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing \
	    || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; }; \
	fi

## The client package, its CLI and the test tools, in a virtualenv.
venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

## Install and upgrade scripts, from idempotent pieces and incremental migrations.
build: $(SQL_BUILD)
$(SQL_BUILD): $(SQL_SOURCES) sql/nyop.control
	rm -rf build && bash sql/build.sh build '$(NYOP_LIB_DIR)'

## Extension files into the server's share dir; our modules + sqlglot where the
## server's Python looks (numpy comes from the distribution: python3-numpy). The same
## command a wheel user runs (nyop_pg/server_install.py); from a checkout it builds the SQL.
install: venv
	$(VENV)/bin/nyop-pg install-server --pg-config '$(PG_CONFIG)' --lib-dir '$(NYOP_LIB_DIR)' \
	  --server-python '$(SERVER_PYTHON)' $(if $(DESTDIR),--destdir '$(DESTDIR)')

## SQL regression tests (pg_regress) against the installed server: PGHOST, PGPORT, PGUSER
## (a superuser) as libpq reads them. Results in $(REGRESS_OUT)/ (regression.diffs on failure).
installcheck:
	$(PG_REGRESS) --inputdir=sql/regress --outputdir='$(REGRESS_OUT)' --bindir='$(PG_BINDIR)' \
	  --dbname=$(REGRESS_DB) $(REGRESS_OPTS) $(REGRESS)

test: deps install
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

demo: deps install
	$(VENV)/bin/nyop-pg demo

bench: deps install
	$(VENV)/bin/nyop-pg bench $(BENCH_ARGS)

## Mutation testing (slow; not part of `make test`): mutmut over the pure server modules with
## the database-free tests, from a staging copy in $(MUTATION_DIR); prints the kill rate per
## module (docs/testing.md). MUTATION_MODULES="delivery quality" runs those modules only and
## keeps the other modules' results from earlier runs.
MUTATION_DIR     ?= build/mutation
MUTATION_WORKERS ?= 2
MUTATION_MODULES ?=
.PHONY: mutation
mutation: venv
	test -x $(VENV)/bin/mutmut || $(VENV)/bin/pip install -q -e '.[test,mutation]'
	$(if $(MUTATION_MODULES),,rm -rf '$(MUTATION_DIR)/mutants')
	$(VENV)/bin/python tests/mutation_score.py stage '$(MUTATION_DIR)'
	cd '$(MUTATION_DIR)' && '$(abspath $(VENV))/bin/mutmut' run --max-children $(MUTATION_WORKERS) \
	  $(foreach m,$(MUTATION_MODULES),'nyop_server.$(m).*')
	$(VENV)/bin/python tests/mutation_score.py score '$(MUTATION_DIR)'

clean:
	rm -rf build regress-results
