"""gunicorn settings for the ageverify issuer.

Start with ``gunicorn -c deploy/gunicorn.conf.py`` (the application is named
below) or with ``ageverify serve``, which uses the same settings. The values
come from :func:`ageverify.cli.server_options`, so both ways of starting agree.

Environment: ``AGEVERIFY_BIND`` (default ``127.0.0.1:8000``),
``AGEVERIFY_WORKERS`` (default ``2 × CPUs + 1``, at most 8), plus the
application's own ``AGEVERIFY_*`` settings.
"""

from ageverify.cli import prepare_metrics_folder, server_options

# Before anything imports prometheus_client: every worker then writes its
# metric samples where one scrape reads them all.
prepare_metrics_folder()
_options = server_options()

wsgi_app = "ageverify:create_app()"
bind = _options["bind"]
workers = _options["workers"]
worker_class = _options["worker_class"]
timeout = _options["timeout"]
graceful_timeout = _options["graceful_timeout"]
keepalive = _options["keepalive"]
# gunicorn's access log would record query strings, referrers and client
# addresses; the application writes its own access line without them.
accesslog = _options["accesslog"]
errorlog = _options["errorlog"]
loglevel = _options["loglevel"]
limit_request_line = _options["limit_request_line"]
limit_request_fields = _options["limit_request_fields"]
limit_request_field_size = _options["limit_request_field_size"]
max_requests = _options["max_requests"]
max_requests_jitter = _options["max_requests_jitter"]
proc_name = _options["proc_name"]
control_socket_disable = _options["control_socket_disable"]
child_exit = _options["child_exit"]
on_exit = _options["on_exit"]
post_worker_init = _options["post_worker_init"]
