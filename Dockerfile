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

RUN useradd --create-home --uid 50000 airflow \
    && mkdir -p /opt/airflow /data /incoming /opt/plan-metrics \
    && chown -R airflow /opt/airflow /data /incoming

WORKDIR /opt/plan-metrics
COPY requirements.lock ./
# --no-deps: the lock is the whole closure (pip's resolver mishandles extras in hash mode,
# pypa/pip#9644); `pip check` proves it complete. Every file must match a locked hash.
RUN pip install --no-cache-dir --no-deps --require-hashes -r requirements.lock \
    && pip check \
    && python -c 'import site, pathlib; pathlib.Path(site.getsitepackages()[0], "plan_metrics.pth").write_text("/opt/plan-metrics\n")'

COPY deploy/ deploy/
COPY dags/ dags/
COPY extract/ extract/
COPY warehouse/ warehouse/
COPY expectations/ expectations/
COPY dbt_project/ dbt_project/
COPY dashboard/ dashboard/

USER airflow
