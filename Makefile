# The two commands: `make demo` and `make test`. Everything they need is set up here.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
S3_PORT ?= 5055
# moto's server accepts any credentials; these only keep boto3's credential chain from failing.
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing

.PHONY: install demo test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

demo: install
	rm -rf data
	$(PY) -m pipeline.local_s3 --port $(S3_PORT) --log var/local-s3.log -- sh -c '\
	  $(PY) -m pipeline.sample --start 2014-09-01 --days 7 --tracks 400 --new-per-day 20 && \
	  $(VENV)/bin/luigi --module tasks BulkIngest --date 2014-09-01 --local-scheduler'

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) -m bench

clean:
	rm -rf data var bench-data $(VENV)
