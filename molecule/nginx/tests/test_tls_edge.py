"""TLS frontends and routes with nginx, through deploy.yml (molecule/lbguard_edge.py)."""

import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "molecule"))
from lbguard_edge import EdgeCase  # noqa: E402  (path set just above)

CASE = EdgeCase(lb="ng-lb-stg-1", engine="nginx", config="/etc/nginx/nginx.conf", ledger="/var/lib/lbguard/nginx")


def test_routes_tls_and_redirect_are_verified(tmp_path):
    CASE.routes_tls_and_redirect_verified(tmp_path)


def test_bad_certificates_are_refused_before_any_host(tmp_path):
    CASE.bad_certificates_refused_before_any_host(tmp_path)


def test_a_wrong_route_is_caught_and_rolled_back(tmp_path):
    CASE.wrong_route_caught_and_rolled_back(tmp_path)
