# lbguard: the two commands of the README, and the steps they are made of.
# Every target installs what it needs first (scripts/bootstrap.sh, idempotent).
SHELL := /bin/bash
ENV := source scripts/env.sh &&
LAB_INVENTORY := inventories/lab/hosts.yml
# Engine of the lab's load balancers: make lab LB_ENGINE=nginx
LB_ENGINE ?= haproxy

.PHONY: bootstrap lab lab-up lab-down test lint unit molecule bench

bootstrap:
	scripts/bootstrap.sh

## lab: bring up the local lab and run the main job (deploy.yml) against it
lab: lab-up
	$(ENV) ansible-playbook -i $(LAB_INVENTORY) -e lb_engine=$(LB_ENGINE) playbooks/deploy.yml

lab-up: bootstrap
	$(ENV) ansible-playbook -i $(LAB_INVENTORY) lab/up.yml

lab-down:
	$(ENV) ansible-playbook -i $(LAB_INVENTORY) lab/down.yml

## test: every test: linters, filter unit tests, Molecule scenarios
test: bootstrap lint unit molecule

lint:
	$(ENV) yamllint -s . && ansible-lint

unit:
	$(ENV) pytest -q tests/unit tests/awx

molecule:
	$(ENV) molecule test --all

## bench: print the benchmarks' figures (reload_bench needs the lab: make lab)
bench: lab-up
	$(ENV) python benchmarks/validate_bench.py
	$(ENV) python benchmarks/reload_bench.py
