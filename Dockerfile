# syntax=docker/dockerfile:1
# trackerbridge in a container: installed once at build time, so a pod starts in a second and runs the same
# code every time (no `pip install` at pod start). Build and push:
#   docker build -t registry.example.com/trackerbridge:0.1.0 .
#   docker push registry.example.com/trackerbridge:0.1.0
# Run against a project directory mounted at /project (see examples/kubernetes/):
#   docker run --rm -v "$PWD:/project" --env-file ./env registry.example.com/trackerbridge:0.1.0 audit
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[postgres]'

FROM python:3.12-slim
# The wheels are bind-mounted from the build stage (BuildKit, Docker's default builder), so none stays in a layer.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels 'trackerbridge[postgres]' \
    && useradd --uid 10001 --create-home trackerbridge \
    && mkdir /project && chown trackerbridge /project
USER 10001
# The project (connectors/, mappings/, trackerbridge.yaml) is mounted here; .trackerbridge/ (lock, SQLite state)
# is written next to it, so /project itself must stay writable.
WORKDIR /project
ENTRYPOINT ["trackerbridge"]
CMD ["sync", "--log-format", "json"]
