# lbguard: the two commands of the README, and the steps they are made of.
# Every target installs what it needs first (scripts/bootstrap.sh, idempotent).
# scripts/timed.sh prints each phase's time (and .ci/run a table at the end).
SHELL := /bin/bash
ENV := source scripts/env.sh &&
TIMED := scripts/timed.sh
LAB_INVENTORY := inventories/lab/hosts.yml
# Engine of the lab's load balancers: make lab LB_ENGINE=nginx
LB_ENGINE ?= haproxy
# Every Molecule scenario, each timed on its own.
SCENARIOS := $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))

.PHONY: bootstrap doctor lab lab-up lab-down test lint sanity unit fuzz molecule bench bench-gate collection

bootstrap:
	$(TIMED) bootstrap scripts/bootstrap.sh

## doctor: list every tool the lab and tests use, with its version; fail on a missing one
doctor: bootstrap
	$(TIMED) doctor scripts/doctor.sh

## lab: bring up the local lab and run the main job (deploy.yml) against it
lab: lab-up
	$(ENV) $(TIMED) lab-deploy ansible-playbook -i $(LAB_INVENTORY) -e lb_engine=$(LB_ENGINE) playbooks/deploy.yml

lab-up: bootstrap
	$(ENV) $(TIMED) lab-up ansible-playbook -i $(LAB_INVENTORY) lab/up.yml

lab-down:
	$(ENV) ansible-playbook -i $(LAB_INVENTORY) lab/down.yml

## test: every test: linters and ansible-test sanity, filter unit tests, Molecule scenarios
# Unit tests and Molecule scenarios share two lanes (scripts/test_lanes.sh).
test: doctor lint
	$(ENV) $(TIMED) unit+molecule scripts/test_lanes.sh --with-unit $(SCENARIOS)

## lint: yamllint, ansible-lint (production profile) and the offline ansible-test sanity checks
lint:
	$(ENV) $(TIMED) lint bash -c 'yamllint -s . && ansible-lint && scripts/sanity.sh'

## sanity: ansible-test sanity on the collection, the checks that run offline
sanity: bootstrap
	$(ENV) $(TIMED) sanity scripts/sanity.sh

unit:
	$(ENV) $(TIMED) unit pytest -q tests/unit tests/integration

## fuzz: the engine-acceptance property test with a larger budget (FUZZ_EXAMPLES models, FUZZ_SEED)
FUZZ_EXAMPLES ?= 2000
FUZZ_SEED ?= $(shell date +%s)
fuzz: bootstrap
	$(ENV) LBGUARD_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) LBGUARD_FUZZ_SEED=$(FUZZ_SEED) \
	  $(TIMED) fuzz pytest -q -s tests/integration/test_engine_acceptance.py

# Every scenario, two at a time (scripts/test_lanes.sh), even when one fails.
molecule:
	$(ENV) $(TIMED) molecule scripts/test_lanes.sh $(SCENARIOS)

## collection: build the collection lbguard.core into dist/ (what execution-environment.yml installs)
collection: bootstrap
	$(ENV) ansible-galaxy collection build --force --output-path dist

## bench: print the benchmarks' figures: validation at fleet scale, deploy cost and its curve, reloads under load
bench: lab-up
	$(ENV) python benchmarks/validate_bench.py --layout host_vars
	$(ENV) python benchmarks/deploy_bench.py
	$(ENV) python benchmarks/reload_bench.py

## bench-gate: the gate's false alarms and incident detection under load (about an hour; needs the lab)
bench-gate: lab-up
	$(ENV) python benchmarks/gate_bench.py
