"""The production deployment's shared configuration: `airflow.env` (Airflow settings read by
docker-compose.yml and the process-based run), `env_secrets.py` (which secrets it needs, how
they are generated and when they are refused) and `init.sh` (what `airflow-init` runs)."""
