# The production image: the same locked dependencies as `make venv`, the project on the path.
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
# Exactly the lock `make` installs from: one set of versions everywhere.
RUN pip install --no-cache-dir -r requirements.lock \
    && python -c 'import site, pathlib; pathlib.Path(site.getsitepackages()[0], "plan_metrics.pth").write_text("/opt/plan-metrics\n")'

COPY dags/ dags/
COPY extract/ extract/
COPY warehouse/ warehouse/
COPY expectations/ expectations/
COPY dbt_project/ dbt_project/
COPY dashboard/ dashboard/

USER airflow
