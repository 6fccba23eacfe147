# The two commands: `make demo` and `make test`. Everything they need is set up here.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
S3_PORT ?= 5055
LUIGID_PORT ?= 8082
CASSANDRA_PORT ?= 9042
# A track of the demo's catalog (pipeline/sample.py): the one the demo's queries ask about.
DEMO_TRACK = 3rmZF5UccW2RQz6Gqdksie

.PHONY: install compile browser demo start stop test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	# The repository on the virtualenv's path: `luigi --module tasks` and mrjob's tasks import from it.
	echo "$(CURDIR)" > `$(PY) -c "import sysconfig; print(sysconfig.get_path('purelib'))"`/echonest-pipeline.pth
	touch $@

# Where PYTHONDONTWRITEBYTECODE is set, every `luigi` command would compile the pipeline again (50 ms
# of its start-up of about one second): compiled here, as pip compiles what it installs.
compile: install
	$(PY) -m compileall -q pipeline tasks bench

demo: compile stop
	rm -rf data var/cassandra
	$(MAKE) --no-print-directory start
	$(PY) -m pipeline.sample --start 2014-09-01 --days 31 --tracks 400 --new-per-day 20
	# The snapshots of 2014-09-06 and 2014-09-07 into Cassandra: a full load, then the day's change.
	$(VENV)/bin/luigi --module tasks AttributesToCassandra --date 2014-09-06
	$(VENV)/bin/luigi --module tasks AttributesToCassandra --date 2014-09-07
	$(PY) -m pipeline.attribute_store track $(DEMO_TRACK)
	$(PY) -m pipeline.attribute_store range --tempo 100:130 --energy 0.5: --limit 5
	$(PY) -m pipeline.attribute_store similar $(DEMO_TRACK) --k 5
	@echo "Done: the warehouse is in ./data. The local S3 server, luigid and Cassandra keep running for more"
	@echo "(web view: http://127.0.0.1:$(LUIGID_PORT), CQL: 127.0.0.1:$(CASSANDRA_PORT)); 'make stop' stops them."

start: install
	mkdir -p var/log
	$(PY) -m pipeline.local_s3 start --port $(S3_PORT) --pidfile var/local-s3.pid --log var/local-s3.log
	$(PY) -m cassandra_node start --workdir var/cassandra --port $(CASSANDRA_PORT)
	nohup $(VENV)/bin/luigid --address 127.0.0.1 --port $(LUIGID_PORT) --logdir var/log \
	  > var/log/luigid.out 2>&1 & echo $$! > var/luigid.pid
	@for i in $$(seq 50); do $(PY) -c "import socket; socket.create_connection(('127.0.0.1', $(LUIGID_PORT)), 1)" \
	  2>/dev/null && exit 0; sleep 0.2; done; echo "luigid did not start: see var/log/luigid.out"; exit 1

stop:
	-$(PY) -m pipeline.local_s3 stop --pidfile var/local-s3.pid
	-$(PY) -m cassandra_node stop --workdir var/cassandra
	-[ -f var/luigid.pid ] && kill `cat var/luigid.pid`; rm -f var/luigid.pid

# tests/test_web_view.py drives Debian's Chromium through its chromedriver (never a downloaded browser).
browser:
	@[ -x /usr/bin/chromedriver ] || if [ `id -u` = 0 ]; then apt-get update && apt-get install -y chromium chromium-driver; \
	  else echo "The web view test needs Debian's chromium and chromium-driver: sudo apt-get install chromium chromium-driver"; fi

test: compile browser
	$(PY) -m pytest -q

bench: compile
	$(PY) -m bench

clean: stop
	rm -rf data var $(VENV)
