# syntax=docker/dockerfile:1
# A dds node. Build from the repository's root:
#   docker build --build-arg COMMIT="$(git rev-parse HEAD)" -t dds .
# Run one node (its data in the volume, the API on the host's loopback):
#   docker run -d --name dds -v dds:/var/lib/dds -p 127.0.0.1:7070:7070 -p 7071:7071 -p 7071:7071/udp dds
# A 4-node network: deploy/compose.yaml.

ARG GO_VERSION=1.26.8
ARG ALPINE_VERSION=3.22

# The Go release is pinned (it must be go.mod's); the build stage's Alpine
# may float, nothing of it reaches the image.
FROM golang:${GO_VERSION}-alpine AS build
WORKDIR /src
# The modules first: a change to the source reuses their layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The build context has no .git (see .dockerignore), so the commit comes
# as an argument; VERSION empty keeps the version built into the node.
ARG COMMIT=""
ARG VERSION=""
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
RUN go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.commit=${COMMIT} -X main.version=${VERSION}" \
      -o /out/dds ./cmd/dds

# Alpine rather than distroless: its shell runs the compose file's one-shot
# init service, and its wget the HEALTHCHECK.
FROM alpine:${ALPINE_VERSION}
RUN addgroup -S -g 10001 dds \
 && adduser -S -D -H -u 10001 -G dds -h /var/lib/dds -s /sbin/nologin dds \
 && mkdir -p /var/lib/dds \
 && chown 10001:10001 /var/lib/dds \
 && chmod 0700 /var/lib/dds
COPY --from=build /out/dds /usr/local/bin/dds
# In a container the API listens on every interface: publish it with
# -p 127.0.0.1:7070:7070, or put it behind a proxy, to choose who reaches it.
ENV DDS_DATA_DIR=/var/lib/dds \
    DDS_HTTP_ADDR=0.0.0.0:7070 \
    DDS_P2P_ADDR=/ip4/0.0.0.0/tcp/7071 \
    DDS_LOG_FORMAT=json
VOLUME ["/var/lib/dds"]
# 7070 HTTP API, 7071 libp2p over TCP and QUIC, 7072 the S3 gateway when
# started with --s3-addr 0.0.0.0:7072.
EXPOSE 7070/tcp 7071/tcp 7071/udp 7072/tcp
USER 10001:10001
# /healthz answers 200 while the process serves (the HTTP address is the
# image's default one).
HEALTHCHECK --interval=30s --timeout=5s --start-period=2m --retries=3 \
  CMD ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:7070/healthz"]
ENTRYPOINT ["/usr/local/bin/dds"]
CMD ["daemon"]
