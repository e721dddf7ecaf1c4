# One Dockerfile, two targets: `dashboard` (no TensorFlow) and `worker` (TensorFlow CPU).
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    CNNLENS_DATA_DIR=/data
RUN useradd --create-home --uid 1000 cnnlens && mkdir /data && chown cnnlens /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY dashboard ./dashboard
COPY worker ./worker
COPY scripts ./scripts

FROM base AS dashboard
RUN pip install .
USER cnnlens
EXPOSE 8050
ENV CNNLENS_HOST=0.0.0.0
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8050/api/health', timeout=4).status != 200)"
CMD ["python", "-m", "dashboard"]

FROM base AS worker
RUN pip install '.[worker]'
USER cnnlens
# A training worker unless told another kind (compose's extractor and analyzer are); its command
# line comes from worker/commands.py: one process per training (TensorFlow leaks across builds).
CMD ["python", "-m", "worker.commands", "training"]
