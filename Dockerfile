# CPU-only image: `docker run -v "$PWD/mlruns:/work/mlruns" hardness run configs/quickstart.yaml`
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    MPLBACKEND=Agg

WORKDIR /work

# CPU builds of torch/torchvision first, so pip does not pull the multi-GB CUDA wheels.
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu \
        torch==2.14.1 torchvision==0.29.1

COPY pyproject.toml README.md ./
COPY hardness ./hardness
COPY configs ./configs
RUN pip install --no-cache-dir .

# The tracking store lives in /work/mlruns; mount it at the same path to keep artifact links valid.
VOLUME ["/work/mlruns", "/work/data"]
EXPOSE 5000

ENTRYPOINT ["hardness"]
CMD ["--help"]
