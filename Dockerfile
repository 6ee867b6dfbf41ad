# The Ferry operator image: the `ferry` package without the model-runtime extras (no torch,
# no TorchServe), pinned by constraints.txt, running as a non-root user with a read-only root
# filesystem (the chart sets runAsUser 65532 and mounts an emptyDir at /tmp).
#   docker build -t ghcr.io/ferry/ferry-operator:0.1.0 .
# (BuildKit, docker's default builder, for RUN --mount.) Without Docker or a registry:
# `make images` builds this same file with buildah, on a debootstrap base (docs/images.md).
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

# Only for build machines whose egress re-signs TLS: their CA bundle, for pip. Unset elsewhere.
ARG PIP_CERT

RUN useradd --uid 65532 --user-group --no-create-home --shell /usr/sbin/nologin ferry

# The dependencies, from pyproject.toml and constraints.txt alone: a change of Ferry's code
# rebuilds only the layer after this one. Wheels stay in a build cache mount, not the image.
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /src
COPY pyproject.toml constraints.txt ./
RUN --mount=type=cache,id=ferry-wheels,target=/wheels \
    python3 -m venv /opt/venv \
 && python3 -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
print("\n".join(p["dependencies"]))' > requirements.txt \
 && pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt -r requirements.txt hatchling \
 && pip install --no-cache-dir --no-index --find-links /wheels -c constraints.txt -r requirements.txt \
 && rm -f requirements.txt

# pyproject.toml names README.md as the package's readme; its text does not matter here, and
# copying it would rebuild the image at every README edit.
RUN touch README.md
COPY operator ./operator
# The wheel force-includes the handler (pyproject.toml), so it must be there to build.
COPY model-handlers/ferry_handler.py ./model-handlers/
RUN --mount=type=cache,id=ferry-wheels,target=/wheels \
    pip install --no-cache-dir --no-deps --find-links /wheels . \
 && cd / && rm -rf /src

USER 65532:65532
WORKDIR /
EXPOSE 8080 9090
ENTRYPOINT ["ferry-operator"]
