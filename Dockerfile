# The Ferry operator image: the `ferry` package without the model-runtime extras (no torch,
# no TorchServe), pinned by constraints.txt, running as a non-root user with a read-only root
# filesystem (the chart sets runAsUser 65532 and mounts an emptyDir at /tmp).
#   docker build -t ghcr.io/ferry/ferry-operator:0.1.0 .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY operator/ operator/
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt .

FROM python:3.11-slim
RUN useradd --uid 65532 --user-group --no-create-home --shell /usr/sbin/nologin ferry
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels ferry && rm -rf /wheels
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["ferry-operator"]
