"""The production deployment of docker-compose.yml, as processes on this machine.

There is no Docker engine here, but every part of the deployment runs without one. This
installs PostgreSQL, Redis and nginx from Debian's packages when they are missing
(`scripts/system_packages.sh`), runs compose's `secrets-check` on the generated `.env`, starts
PostgreSQL and Redis on loopback, on free ports, with freshly generated passwords, in a
throw-away folder; then runs `deploy/init.sh` (what `airflow-init` runs), Airflow's components
with the CeleryExecutor: api-server, scheduler, dag-processor, triggerer, two Celery workers on
the default queue (`--scale airflow-worker=2`) and the one DuckDB writer on queue
`duckdb_writer` with concurrency 1; then the dashboard (with its login) and the TLS proxy
(nginx on deploy/nginx.conf, a self-signed certificate from deploy/tls.py), the one way in.

"Exactly as compose configures it" is read, not copied: each component's command and
environment come from docker-compose.yml itself (its `${VAR:?…}` rules included, so a missing
secret is refused here as compose refuses it; each component gets only its service's secrets)
and from `deploy/airflow.env`, the one file of Airflow settings both use. Only what a container
network provides differently is put in locally: service host names become 127.0.0.1 and a free
port, container paths become folders under the throw-away root, the readers group is the local
`plan-readers` (created when running as root) or the user's own, and each worker gets its own
Celery name and log-server port (containers each have their own host name and ports; processes
on one machine share them).

`compose` reads the deployment's files, `processes` runs and waits for processes, `services`
holds PostgreSQL, Redis and nginx, `stack` the whole deployment (`ProdLocal`), `rest_api` a
client of its REST API. `make prod-local` (scripts/prod_local.py), the production-shaped test
(tests/deployment/test_prod_celery.py) and the benchmark (bench/workers.py) drive `ProdLocal`.
"""
