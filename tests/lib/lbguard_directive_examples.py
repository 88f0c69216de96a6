"""One representative use of every allowlisted keyword of plugins/plugin_utils/lbguard_directives.py,
per engine and section: the unit tests hold the allowlist to it (every keyword has one), and
tests/integration/test_engine_acceptance.py has the real engines accept each one where the
template puts it (an allowlist entry the engine refuses is a bug)."""

from __future__ import annotations

_NGINX_COMMON_EXAMPLES: tuple[str, ...] = (
    "client_body_timeout 30s", "client_header_timeout 30s", "send_timeout 30s", "proxy_send_timeout 60s",
    "keepalive_timeout 65s 60s", "client_max_body_size 2m", "client_body_buffer_size 16k",
    "client_header_buffer_size 2k", "proxy_buffer_size 8k", "proxy_busy_buffers_size 16k",
    "proxy_max_temp_file_size 0", "gzip_min_length 1000", "keepalive_requests 1000",
    "large_client_header_buffers 4 16k", "proxy_buffers 8 8k", "proxy_buffering on", "proxy_request_buffering off",
    "proxy_ignore_client_abort off", "gzip on", "gzip_vary on", "tcp_nodelay on", "reset_timedout_connection on",
    "proxy_http_version 1.1", "gzip_types text/css application/json", "gzip_comp_level 5", "gzip_proxied expired no-cache auth",
    "proxy_hide_header X-Powered-By", "access_log syslog:server=127.0.0.1:514,tag=lb", "error_log /var/log/nginx/x.log warn",
)
_HAPROXY_HEADER_EXAMPLES: tuple[str, ...] = (
    "http-request set-header X-Edge 1", "http-request add-header X-Team \"web shop\"",
    "http-request del-header X-Debug", "http-response set-header X-Frame-Options DENY",
    "http-response add-header Cache-Control no-store", "http-response del-header Server",
    "compression algo gzip deflate", "compression type text/html text/plain", "compression offload",
    "option http-server-close", "option http-keep-alive", "option httpclose", "option forwardfor",
    "option http-buffer-request",
)
EXAMPLES: dict[str, dict[str, tuple[str, ...]]] = {
    "haproxy": {
        "global": ("maxconnrate 1000", "maxsessrate 1000", "maxsslconn 1000", "maxsslrate 1000", "nbthread 2",
                   "spread-checks 5", "tune.bufsize 32768", "tune.maxrewrite 1024", "tune.http.maxhdr 128",
                   "tune.ssl.cachesize 20000", "stats maxconn 10", "hard-stop-after 30s", "stats timeout 1m",
                   "stats socket /run/haproxy/user.sock mode 660 level user",
                   "log 127.0.0.1:514 local1 info", "log-send-hostname", "log-tag lb"),
        "frontend": ("timeout client 30s", "timeout client-fin 5s", "timeout http-request 10s",
                     "timeout http-keep-alive 2s", "timeout tarpit 5s", "maxconn 2000", "rate-limit sessions 100",
                     "backlog 1024", "log /dev/log local2 notice", "log-format \"%ci:%cp %ST %B\"",
                     "option httplog", "option dontlognull", "option logasap", "option dontlog-normal",
                     "option log-separate-errors", *_HAPROXY_HEADER_EXAMPLES,
                     "capture request header User-Agent len 64", "capture response header Content-Type len 32"),
        "pool": ("timeout server 30s", "timeout connect 5s", "timeout queue 10s", "timeout tunnel 1h",
                 "timeout server-fin 5s", "timeout http-keep-alive 2s", "timeout http-request 10s", "retries 5",
                 "fullconn 1000", "option redispatch", "option abortonclose", "retry-on conn-failure 503",
                 "http-reuse safe", *_HAPROXY_HEADER_EXAMPLES),
    },
    "nginx": {
        "global": (*_NGINX_COMMON_EXAMPLES, "log_format lbmain '$remote_addr $status $upstream_addr'",
                   "tcp_nopush on", "sendfile on",
                   "server_names_hash_max_size 1024", "types_hash_max_size 2048", "variables_hash_max_size 2048"),
        "frontend": _NGINX_COMMON_EXAMPLES,
        "pool": ("keepalive 16", "keepalive_requests 1000", "keepalive_timeout 60s", "keepalive_time 1h"),
    },
}
