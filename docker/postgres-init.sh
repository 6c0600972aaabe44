#!/usr/bin/env bash
# First start of the compose stack's PostgreSQL (an empty data volume): one database per use,
# each owned by a role of its own that only its user knows the password of. Other roles cannot
# connect to it. The passwords come from the postgres service's environment (compose.yaml).
set -euo pipefail
: "${MLFLOW_DB_PASSWORD:?}" "${OPTUNA_DB_PASSWORD:?}" "${SERVING_DB_PASSWORD:?}"
psql --no-psqlrc -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v mlflow_password="$MLFLOW_DB_PASSWORD" \
  -v optuna_password="$OPTUNA_DB_PASSWORD" \
  -v serving_password="$SERVING_DB_PASSWORD" <<'SQL'
-- MLflow's backend store (runs, metrics, the model registry): the tracking server
CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE mlflow OWNER mlflow;
-- the shared Optuna storage of `kedro run --env team`: training
CREATE ROLE optuna LOGIN PASSWORD :'optuna_password';
CREATE DATABASE optuna OWNER optuna;
-- the service's prediction log and feedback: the service, monitoring and retraining
CREATE ROLE serving LOGIN PASSWORD :'serving_password';
CREATE DATABASE serving OWNER serving;
REVOKE CONNECT, TEMPORARY ON DATABASE mlflow, optuna, serving FROM PUBLIC;
SQL
