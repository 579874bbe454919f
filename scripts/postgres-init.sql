-- Run once by the postgres image on an empty volume (compose.yaml): the Optuna studies get their own database beside
-- MLflow's (both keep an alembic_version table, so they cannot share one).
CREATE DATABASE optuna;
