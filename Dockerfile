# syntax=docker/dockerfile:1.7
# The image of one tasklane binary, named by BIN; the build context is the
# repository root:
#   docker build --build-arg BIN=tasklane-api    -t tasklane-api .
#   docker build --build-arg BIN=tasklane-worker -t tasklane-worker .
ARG BIN=tasklane-api

FROM rust:1.95-slim-bookworm AS chef
# cargo-chef turns the workspace manifests into a recipe, so the dependency
# layer below is rebuilt only when Cargo.toml/Cargo.lock change, not on every
# source edit. cargo-auditable embeds the crate list in the binary, where the
# image scanners (Trivy, Grype) read it.
RUN cargo install cargo-chef --locked --version 0.1.71 \
 && cargo install cargo-auditable --locked --version 0.7.7
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
ARG BIN
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked -p "$BIN" --recipe-path recipe.json
COPY . .
# The gateway's image also carries the operator CLI (docs/cli.md).
RUN cargo auditable build --release --locked -p "$BIN" --bin "$BIN" \
 && cp "target/release/$BIN" /service \
 && if [ "$BIN" = tasklane-api ]; then \
      cargo auditable build --release --locked -p tasklane-ctl --bin tasklane-ctl \
      && cp target/release/tasklane-ctl /tasklane-ctl; \
    fi

# distroless/cc carries glibc, libgcc, libssl and the CA bundle and nothing
# else: no shell, no package manager. Bookworm on both sides keeps the glibc
# the binary was linked against.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
ARG BIN
ARG VERSION=dev
ARG REVISION=unknown
# The pipeline passes the repository URL it builds from.
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="${BIN}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.vendor="tasklane" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=builder /service /usr/local/bin/${BIN}
# Fixed numeric UID/GID so Kubernetes runAsNonRoot can verify it without a
# passwd entry; the charts pin the same 10001.
USER 10001:10001
# No HEALTHCHECK: Kubernetes probes /healthz and /readyz instead.

# What differs per binary: an exec-form ENTRYPOINT cannot expand BIN (and the
# image has no shell to do it), so each binary names itself in a stage of its
# own, and the last line picks the stage BIN names.
FROM runtime AS tasklane-api
LABEL org.opencontainers.image.description="tasklane HTTP gateway: accepts tasks and publishes them to NATS JetStream"
EXPOSE 8080
# `kubectl exec deploy/api -- tasklane-ctl stats`: no shell needed.
COPY --from=builder /tasklane-ctl /usr/local/bin/tasklane-ctl
ENTRYPOINT ["/usr/local/bin/tasklane-api"]

FROM runtime AS tasklane-worker
LABEL org.opencontainers.image.description="tasklane worker: pulls tasks from NATS JetStream and writes results to Valkey"
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/tasklane-worker"]

# checkov reads this FROM as an untagged image and skips CKV_DOCKER_7 file-wide;
# hadolint (DL3006, DL3007) still checks that every real base image is pinned.
# checkov:skip=CKV_DOCKER_7: BIN names one of the two stages above, not an image
FROM ${BIN}
