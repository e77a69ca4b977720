# kubefed-rs image for your own CI: the three binaries on a small non-root runtime.
#   docker build -t kubefed-rs:dev .
# (The project's tests build the same layout without Docker: hack/images.sh.)
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
      -p kubefed-webhook -p kubefed-controller -p kubectl-fed \
      --bin kubefed-webhook --bin kubefed-controller --bin kubectl-fed \
 && mkdir /out \
 && cp target/release/kubefed-webhook target/release/kubefed-controller target/release/kubectl-fed /out/ \
 && strip /out/*

# glibc, libgcc and CA certificates; no shell, no package manager. Runs as 65532 (nonroot).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kubefed-controller"]
