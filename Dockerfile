# ebay-trends Airflow image: the official Airflow image plus this project's pinned
# requirements and code.  docker-compose.yaml builds it (`build:`) and tags it
# ${AIRFLOW_IMAGE_NAME:-ebay-trends-airflow:3.3.2}.
#
# Why a built image and not _PIP_ADDITIONAL_REQUIREMENTS: that variable reinstalls the
# requirements in every container on every start (slow, and a registry outage stops the
# stack).  It is fine for a quick try only; see the comment in docker-compose.yaml.
#
# The Python version matches the one the project is tested with (.venv is 3.11) so the
# pins in requirements.txt resolve to the same wheels.
ARG AIRFLOW_BASE_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_BASE_IMAGE}

# Pinning apache-airflow on the same line stops pip from up- or downgrading Airflow
# while it resolves our requirements (the official "extend the image" recipe).
ARG AIRFLOW_VERSION=3.3.2
COPY --chown=airflow:0 requirements.txt /requirements.txt
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /requirements.txt

# The code is baked in so the image runs on its own (e.g. KubernetesExecutor pods, see
# docs/SCALING.md).  docker-compose mounts the working tree over these for development.
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 include/ /opt/airflow/include/

# One import path everywhere: `import include.ebay_trends` (docs/DESIGN.md).
ENV PYTHONPATH=/opt/airflow
