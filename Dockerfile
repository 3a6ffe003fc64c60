# deepprobe images. The documented build is the multi-stage one at the bottom:
#
#   docker build -t deepprobe .                        # deepprobe (default target: release)
#   docker build -t workersim --target workersim .     # the simulators, for demos
#   docker run --tmpfs /var/lib/workersim:uid=65532,gid=65532 workersim   # its volumes need a writable dir
#
# Stage order matters: the classic builder builds every stage up to --target, so the stages
# that package binaries `make build` already made (for machines that cannot pull golang, such
# as CI here) come first and need no base image at all.

# Everything a deepprobe image is, but its binary.
FROM scratch AS deepprobe-base
# No shell and no curl in the image: the health check is deepprobe's own exec subcommand.
# check --timeout 7s asks the service to answer within 6.3s (90%), inside Docker's 8s.
HEALTHCHECK --interval=15s --timeout=8s --start-period=15s --retries=3 \
  CMD ["/deepprobe", "check", "--timeout", "7s"]
USER 65532:65532
EXPOSE 8889
ENTRYPOINT ["/deepprobe"]
CMD ["serve"]

# deepprobe from bin/deepprobe (CGO_ENABLED=0, as `make build` makes it).
FROM deepprobe-base AS prebuilt
COPY bin/deepprobe /deepprobe

# workersim from bin/workersim.
FROM scratch AS workersim-prebuilt
COPY bin/workersim /workersim
USER 65532:65532
EXPOSE 7777 7788 7789
ENTRYPOINT ["/workersim", "--garden-listen", "0.0.0.0:7777", "--baggageclaim-listen", "0.0.0.0:7788", "--admin-listen", "0.0.0.0:7789", "--state-dir", "/var/lib/workersim"]

# The documented build: static binaries from source. The build context has no .git, so the
# version and commit come in as build arguments (`make image` passes both):
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) --build-arg COMMIT=$(git rev-parse HEAD) -t deepprobe .
FROM golang:1.26 AS build
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/deepprobe/deepprobe/cli.Version=${VERSION} -X github.com/deepprobe/deepprobe/cli.Commit=${COMMIT}" \
      -o /out/ ./cmd/deepprobe ./cmd/workersim

FROM scratch AS workersim
COPY --from=build /out/workersim /workersim
USER 65532:65532
EXPOSE 7777 7788 7789
ENTRYPOINT ["/workersim", "--garden-listen", "0.0.0.0:7777", "--baggageclaim-listen", "0.0.0.0:7788", "--admin-listen", "0.0.0.0:7789", "--state-dir", "/var/lib/workersim"]

FROM deepprobe-base AS release
COPY --from=build /out/deepprobe /deepprobe
