-- First start of the compose stack's PostgreSQL (an empty data volume): one database per use.
-- The stack's role (POSTGRES_USER) owns them all.
CREATE DATABASE mlflow;   -- MLflow's backend store: runs, metrics, the model registry
CREATE DATABASE optuna;   -- the shared Optuna storage of `kedro run --env team`
CREATE DATABASE serving;  -- the service's prediction log and feedback
