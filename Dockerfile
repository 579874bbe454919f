# The hardness CLI as a non-root user, CPU-only torch by default (README "Docker"):
#   docker build -t hardness .
#   docker build --build-arg TORCH_INDEX_URL= -t hardness .    # torch from pip's own index (PyPI: the CUDA build)
# Two stages: the dependencies (torch first, then what pyproject.toml lists) are one cached layer that code edits do
# not invalidate; the runtime stage copies that environment and installs only the package itself.

FROM python:3.11-slim AS dependencies
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.14.1
ARG TORCHVISION_VERSION=0.29.1
ARG EXTRAS=postgres,dask,dashboard,auth
ENV PATH=/opt/venv/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1
SHELL ["/bin/sh", "-eu", "-c"]
RUN python -m venv /opt/venv \
    && if [ -n "$TORCH_INDEX_URL" ]; then export PIP_INDEX_URL="$TORCH_INDEX_URL"; fi \
    && pip install --no-cache-dir "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}"
COPY pyproject.toml /tmp/pyproject.toml
RUN python -c 'import sys, tomllib; project = tomllib.load(open("/tmp/pyproject.toml", "rb"))["project"]; \
print("\n".join(project["dependencies"] + [r for e in sys.argv[1].split(",") if e for r in project["optional-dependencies"][e]]))' \
        "$EXTRAS" > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib
RUN useradd --create-home --uid 1000 hardness
COPY --from=dependencies /opt/venv /opt/venv
WORKDIR /work
COPY pyproject.toml README.md ./
COPY hardness ./hardness
COPY configs ./configs
RUN pip install --no-cache-dir --no-deps . \
    && mkdir -p /work/mlruns /work/data && chown hardness:hardness /work /work/mlruns /work/data
USER hardness

# The default store is /work/mlruns. MLflow records artifact paths as absolute paths: mount a store at the same path
# inside as outside (and pass --tracking-uri), or at /work/mlruns and read it only from inside the container.
VOLUME ["/work/mlruns", "/work/data"]
EXPOSE 5000
ENTRYPOINT ["hardness"]
CMD ["--help"]
