# barkeep container image: a static binary on an empty base, run as a
# non-root user, configuration at /etc/barkeep/barkeep.yaml.
#
#   docker build --build-arg VERSION=v0.3.0 --build-arg COMMIT=$(git rev-parse HEAD) -t barkeep .
#   docker run -p 8000:8000 -v $PWD/barkeep.yaml:/etc/barkeep/barkeep.yaml:ro barkeep
#
# Reload: docker kill -s HUP <container>. Stop (drains): docker stop.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/barkeep ./cmd/barkeep \
 && mkdir -p /out/var/lib/barkeep

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/barkeep /usr/bin/barkeep
COPY --from=build --chown=65532:65532 /out/var/lib/barkeep /var/lib/barkeep
COPY packaging/barkeep.yaml /etc/barkeep/barkeep.yaml
USER 65532:65532
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/bin/barkeep", "healthcheck", "--url", "http://127.0.0.1:8090/healthz"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/barkeep"]
CMD ["serve", "--config", "/etc/barkeep/barkeep.yaml"]
