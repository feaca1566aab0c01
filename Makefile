# The README's two commands: `make run` and `make test` (and `make stop`). They create .venv on first use.
# The interpreter .venv is made with: the system's own CPython 3.11 or newer (/usr/bin/python3.1x, with
# its venv module) when there is one, else python3 on PATH; `make PYTHON=...` picks another (after
# `make clean`: an existing .venv keeps the interpreter it was made with). Why the system's first:
# distributions build CPython with profile-guided optimisation and link-time optimisation, pyenv's
# and asdf's default builds with neither. On the development machine pyenv's 3.11.7 ran the inbound
# pipeline 1.3x slower than Debian's 3.11.2, and pure Python loops 1.4x slower (docs/performance.md).
PYTHON ?= $(shell for v in 3.13 3.12 3.11; do p=/usr/bin/python$$v; \
	$$p -c 'import ensurepip, venv' 2>/dev/null && echo $$p && exit; done; echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run stop test lint bench litmus clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The inbound SMTP server runs beside the web server and stops when it does (Ctrl-C, or `make stop`).
run: $(STAMP)
	$(BIN)/caledee init --demo
	$(BIN)/caledee inbound & trap 'kill $$! 2>/dev/null' EXIT INT TERM; $(BIN)/caledee serve

# Stops the server `make run` started (from another terminal), through gunicorn's control socket.
stop: $(STAMP)
	$(BIN)/gunicornc -s var/gunicorn.ctl -c shutdown

# The suite runs twice: as it is, then with the clock two years ahead (CALEDEE_TEST_CLOCK_OFFSET_DAYS
# moves it in the test process and in every server and CLI process the tests start). A test that
# hard-codes a date (a booking "in the future", an availability range, a case "beyond the indexing
# horizon") fails in the second run years before it would fail on its own. The whole suite rather than
# the time-sensitive files, but on SQLite alone: every time is computed in Python from the one clock
# and reaches SQL as a parameter, so the database does not change what a date means. Measured on
# the development machine (2 CPUs) with 1,072 tests: 4.8 min for the first run with PostgreSQL, 2.4
# min for the second, so `make test` stays under 10 minutes.
# tests/test_webdav_files.py runs litmus when it is installed: install it where apt-get can (as root;
# when it cannot, that one test is skipped and says so). tests/test_booking_pages.py drives Debian's
# Chromium (/usr/bin/chromium) through Playwright, installed the same way (never `playwright install`,
# which downloads a browser of its own).
# Two test processes (pytest-xdist), one file each at a time: most of a test's time is spent waiting
# on a server process, so two share the machine's two cores (8.3 minutes down to 4.8 for the first
# run, 4.6 to 2.4 for the second). Each worker takes its servers' ports from a range of its own
# (tests/conftest.py free_port).
PARALLEL = -n 2 --dist loadfile

test: lint
	@command -v litmus >/dev/null || ! command -v apt-get >/dev/null || \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q litmus >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null 2>&1 && \
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -q litmus >/dev/null 2>&1; } || \
		echo "litmus could not be installed: the litmus test will be skipped"
	@test -x /usr/bin/chromium || ! command -v apt-get >/dev/null || \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null 2>&1 && \
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; } || \
		echo "chromium could not be installed: the browser tests (tests/test_booking_pages.py) will be skipped"
	$(BIN)/pytest -q $(PARALLEL)
	CALEDEE_TEST_CLOCK_OFFSET_DAYS=730 CALEDEE_TEST_POSTGRES_URL= $(BIN)/pytest -q $(PARALLEL)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

# The litmus WebDAV suite against a fresh server (tests/litmus.sh); needs the litmus package.
litmus: $(STAMP)
	BIN=$(BIN) tests/litmus.sh

bench: $(STAMP)
	$(BIN)/python bench/caldav_report.py
	$(BIN)/python bench/slots.py
	$(BIN)/python bench/webhooks.py

clean:
	rm -rf $(VENV) var build *.egg-info
