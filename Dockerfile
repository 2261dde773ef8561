# Build: docker build -t vneid-gateway .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p vneid-gateway && cp target/release/gateway /gateway

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/vneid --create-home vneid
COPY --from=build /gateway /usr/local/bin/gateway
USER vneid
WORKDIR /var/lib/vneid
ENV GATEWAY__SERVER__BIND=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/gateway"]
CMD ["serve"]
