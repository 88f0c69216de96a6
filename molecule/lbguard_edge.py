"""TLS frontends and routing to pools through the real pipeline (#14), for both engines.

Each engine's scenario runs these against its staging load balancer with a test
CA made in the test: host and path routes, the redirect to HTTPS, SNI with two
certificates, certificates refused before any host is touched, and a wrong
route (an operator's own template) caught in staging and rolled back.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from lbguard_testlib import PROJECT, deploy, lb, problems, snapshot

sys.path.insert(0, os.path.join(PROJECT, "scripts"))
from lab_certs import CertificateAuthority  # noqa: E402  (path set just above)

# The stats page's password, as it would come from Ansible Vault: made for this test run.
STATS_PASSWORD = secrets.token_urlsafe(18)
STATS = {"address": "127.0.0.1", "port": 8404, "user": "ops", "password": STATS_PASSWORD}
SHOP_NAMES = ("shop.edge.test", "www.shop.edge.test")
API_NAMES = ("api.edge.test",)
HTTP_PORT, HTTPS_PORT = 8000, 8443


@dataclass
class EdgeCase:
    """One engine's staging load balancer and where its files are."""

    lb: str
    engine: str
    config: str
    ledger: str

    # ------------------------------------------------------------------ helpers

    def certificates(self, folder: Path, shop: tuple[str, str] | None = None) -> dict[str, str]:
        """Write the frontend's two certificates and keys; returns their paths by name."""
        ca = CertificateAuthority()
        pairs = {"shop": shop or ca.issue(*SHOP_NAMES), "api": ca.issue(*API_NAMES)}
        paths = {}
        for name, (certificate, key) in pairs.items():
            (folder / f"{name}.crt").write_text(certificate)
            (folder / f"{name}.key").write_text(key)
            paths[name] = str(folder / name)
        return paths

    def edge_vars(self, folder: Path, shop: tuple[str, str] | None = None) -> Path:
        """A vars file with the edge frontend and its two pools; returns its path."""
        paths = self.certificates(folder, shop)
        health = {"path": "/health", "interval": "1s", "rise": 1, "fall": 2}
        data = {
            "lb_frontends": [{
                "name": "edge",
                "binds": [{"port": HTTP_PORT}, {"port": HTTPS_PORT, "tls": True}],
                "tls": {"certificates": [{"name": name, "certificate_file": f"{path}.crt", "key_file": f"{path}.key"}
                                         for name, path in paths.items()]},
                "redirect_to_https": True,
                "hsts": {"max_age": 600},
                "routes": [{"hosts": list(API_NAMES), "pool": "api"},
                           {"hosts": list(SHOP_NAMES), "path_prefix": "/api/", "pool": "api"}],
                "default_pool": "storefront",
            }],
            "lb_stats": STATS,
            "lb_pools": [{"name": "storefront", "backend_group": "webservers", "backend_port": 80,
                          "health_check": health},
                         {"name": "api", "backend_group": "webservers", "backend_port": 80, "health_check": health}],
        }
        path = folder / "edge.json"
        path.write_text(json.dumps(data))
        return path

    def headers(self, url: str, host: str) -> dict[str, str]:
        """Response headers (lower-case names) of one request from the LB itself, Host and SNI ``host``."""
        port = HTTPS_PORT if url.startswith("https") else HTTP_PORT
        out = lb(self.lb).check_output(
            f"curl -sk -o /dev/null -D - --resolve {host}:{port}:127.0.0.1 {url.format(host=host)}")
        lines = [line.split(":", 1) for line in out.replace("\r", "").splitlines()[1:] if ":" in line]
        return {"status": out.split()[1], **{k.strip().lower(): v.strip() for k, v in lines}}

    def handshake(self, sni: str, offered: str = "") -> str:
        """A shell command that completes one TLS handshake with the LB (SNI ``sni``, ALPN ``offered``,
        comma-separated) and prints the chosen ALPN protocol, then the certificate in PEM.

        Python's ssl returns only once the handshake is done: `echo | openssl s_client`
        raced its own end of input and, on a busy machine, sometimes printed no summary.
        """
        script = ("import socket, ssl, sys; context = ssl.create_default_context(); context.check_hostname = False; "
                  "context.verify_mode = ssl.CERT_NONE; "
                  f"context.set_alpn_protocols([p for p in {offered!r}.split(',') if p]); "
                  f"tls = context.wrap_socket(socket.create_connection(('127.0.0.1', {HTTPS_PORT}), timeout=30), "
                  f"server_hostname={sni!r}); "
                  "print('ALPN protocol:', tls.selected_alpn_protocol() or 'none'); "
                  "print(ssl.DER_cert_to_PEM_cert(tls.getpeercert(binary_form=True)))")
        return f"python3 -c {shlex.quote(script)}"

    def subject(self, sni: str) -> str:
        """The subject of the certificate the LB presents for SNI name ``sni``."""
        return lb(self.lb).check_output(f"{self.handshake(sni)} | openssl x509 -noout -subject")

    def alpn(self, offered: str) -> str:
        """What the LB's TLS bind chose for ALPN when the client offers ``offered``: `ALPN protocol: NAME`."""
        return lb(self.lb).check_output(f"{self.handshake('shop.edge.test', offered)}").splitlines()[0].strip()

    # -------------------------------------------------------------------- tests

    def routes_tls_and_redirect_verified(self, tmp_path: Path) -> None:
        result, report = deploy(tmp_path, "-e", f"@{self.edge_vars(tmp_path)}")
        assert result.returncode == 0, result.stdout[-6000:]
        assert report["hosts"][self.lb]["status"] == "verified", report
        https = f"https://{{host}}:{HTTPS_PORT}"
        assert self.headers(f"{https}/", "api.edge.test")["x-lbguard-pool"] == "api"
        assert self.headers(f"{https}/api/orders", "shop.edge.test")["x-lbguard-pool"] == "api"
        home = self.headers(f"{https}/", "shop.edge.test")
        assert home["x-lbguard-pool"] == "storefront" and home["strict-transport-security"] == "max-age=600"
        # The backend is told who asked and that it came over HTTPS (the web servers echo both).
        assert home["x-seen-forwarded-proto"] == "https", home
        assert home["x-seen-forwarded-for"].split(",")[-1].strip() == "127.0.0.1", home
        plain = self.headers(f"http://{{host}}:{HTTP_PORT}/cart?id=1", "www.shop.edge.test")
        assert plain["status"] == "301"
        assert plain["location"] == f"https://www.shop.edge.test:{HTTPS_PORT}/cart?id=1"
        assert "CN = api.edge.test" in self.subject("api.edge.test")
        assert "CN = shop.edge.test" in self.subject("www.shop.edge.test")
        assert self.alpn("h2,http/1.1") == "ALPN protocol: h2"
        # The key is on the LB, root only, and nowhere in the run's output, report or ledger.
        key_lines = [line for line in (tmp_path / "api.key").read_text().splitlines() if "-----" not in line]
        host = lb(self.lb)
        folder = f"/etc/{self.engine}/lbguard-tls"
        modes = host.check_output(f"stat -c '%a %U' {folder} {folder}/*").splitlines()
        assert modes[0] == "700 root" and all(m == "600 root" for m in modes[1:]), modes
        ledger = host.check_output(f"cat {self.ledger}/releases/*/meta.json")
        for line in key_lines + [STATS_PASSWORD]:
            assert line not in result.stdout + result.stderr and line not in json.dumps(report) and line not in ledger
        # The stats page asks for the password, and only the right one opens it.
        page = f"http://127.0.0.1:{STATS['port']}/"
        code = "curl -s -o /dev/null -w '%{http_code}' "
        assert host.check_output(code + page) == "401"
        assert host.check_output(code + f"-u ops:wrong-{STATS_PASSWORD} " + page) == "401"
        body = host.check_output(f"curl -s -u ops:{STATS_PASSWORD} {page}")
        assert ("Statistics Report" if self.engine == "haproxy" else "Active connections") in body, body[:300]
        assert STATS_PASSWORD not in host.check_output(f"cat {self.config}")

    def bad_certificates_refused_before_any_host(self, tmp_path: Path) -> None:
        before = snapshot(self.lb, self.config, self.ledger)
        ca, other = CertificateAuthority(), CertificateAuthority()
        expired = ca.issue(*SHOP_NAMES, days=10, start_days=-20)
        vars_file = self.edge_vars(tmp_path, shop=expired)
        data = json.loads(vars_file.read_text())
        api = data["lb_frontends"][0]["tls"]["certificates"][1]
        (tmp_path / "other.key").write_text(other.issue(*API_NAMES)[1])
        api["key_file"] = str(tmp_path / "other.key")
        vars_file.write_text(json.dumps(data))
        result, _ = deploy(tmp_path, "-e", f"@{vars_file}")
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert "frontend edge: certificate shop: the certificate expired on" in output, output[-4000:]
        assert "frontend edge: certificate api: the private key does not match the certificate" in output
        assert snapshot(self.lb, self.config, self.ledger) == before

    def wrong_route_caught_and_rolled_back(self, tmp_path: Path) -> None:
        """An operator's own template that sends every route to the default pool."""
        before = snapshot(self.lb, self.config, self.ledger)
        name = {"haproxy": "haproxy.cfg.j2", "nginx": "nginx.conf.j2"}[self.engine]
        text = (Path(PROJECT) / "roles" / self.engine / "templates" / name).read_text()
        wrong = {"haproxy": ("use_backend {{ route.pool }} if", "use_backend {{ frontend.default_pool }} if"),
                 "nginx": ('" {{ route.pool }};', '" {{ frontend.default_pool }};')}[self.engine]
        assert wrong[0] in text
        template = tmp_path / name
        template.write_text(text.replace(wrong[0], wrong[1]))
        result, report = deploy(tmp_path, "-e", f"@{self.edge_vars(tmp_path)}",
                                "-e", f"{self.engine}_template={template}")
        found = problems(report)
        assert result.returncode != 0
        assert report["hosts"][self.lb]["status"] == "rolled_back", report
        assert "pool api, measured through its route" in found, found
        assert "60 of 60 answers came from elsewhere (pool storefront 60); the model sends them to pool api" in found
        # Every route is checked on its own: the second route to pool api as well.
        assert ("frontend edge routes[1] (host shop.edge.test, path /api/): 3 of 3 answers came from elsewhere "
                "(pool storefront 3)") in found, found
        after = snapshot(self.lb, self.config, self.ledger)
        assert after["config"] == before["config"] and after["current"] == before["current"]
