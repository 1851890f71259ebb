# Anslut: a multi-stage build. The builder compiles the `anslut` binary; the runtime image is
# Debian slim with the binary, CA certificates (for an https JWKS) and a non-root user.
#
#   docker build -t anslut .
#   docker run -p 8080:8080 anslut                      # development mode, SQLite in the volume
#   docker compose up                                   # with PostgreSQL (docker-compose.yml)

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin anslut

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/anslut --create-home anslut \
    && mkdir -p /var/lib/anslut/data \
    && chown -R anslut:anslut /var/lib/anslut
COPY --from=builder /src/target/release/anslut /usr/local/bin/anslut
USER anslut
WORKDIR /var/lib/anslut
ENV ANSLUT_HOST=0.0.0.0 \
    ANSLUT_PORT=8080 \
    ANSLUT_DATA_DIR=/var/lib/anslut/data
VOLUME ["/var/lib/anslut/data"]
EXPOSE 8080
# /readyz answers 200 once the database answers and the schema is in place. Debian slim has
# no curl: bash's /dev/tcp asks instead.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["anslut"]
CMD ["serve"]
