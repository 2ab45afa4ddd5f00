# The production image: the production lock only (no test or lint tool), hash-checked; the
# project on the path. `make venv` installs requirements-dev.lock = this set + dev tools.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow \
    PLAN_METRICS_DATA_DIR=/data \
    PLAN_METRICS_INCOMING_DIR=/incoming \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/plan-metrics/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False

# Two users: `airflow` runs the pipeline and owns the data; `dashboard` only reads what is
# published, through the group `plan-readers` (published/ is 2750, its files 0640: the pipeline
# sets them, docs/deployment.md "Files"). Analysts' host accounts join the group by its gid.
RUN groupadd --gid 50001 plan-readers \
    && useradd --create-home --uid 50000 --groups plan-readers airflow \
    && useradd --no-create-home --uid 50002 --gid plan-readers dashboard \
    && mkdir -p /opt/airflow /data /incoming /opt/plan-metrics /audit \
    && chown -R airflow /opt/airflow /incoming \
    && chown airflow:plan-readers /data && chown dashboard:plan-readers /audit && chmod 0750 /data /audit

WORKDIR /opt/plan-metrics
COPY requirements.lock ./
# --no-deps: the lock is the whole closure (pip's resolver mishandles extras in hash mode,
# pypa/pip#9644); `pip check` proves it complete. Every file must match a locked hash.
RUN pip install --no-cache-dir --no-deps --require-hashes -r requirements.lock \
    && pip check \
    && python -c 'import site, pathlib; pathlib.Path(site.getsitepackages()[0], "plan_metrics.pth").write_text("/opt/plan-metrics\n")'

COPY settings/ settings/
COPY pipeline/ pipeline/
COPY deploy/ deploy/
COPY dags/ dags/
COPY extract/ extract/
COPY warehouse/ warehouse/
COPY expectations/ expectations/
COPY dbt_project/ dbt_project/
COPY dashboard/ dashboard/

USER airflow
