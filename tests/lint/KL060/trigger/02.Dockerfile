FROM ghcr.io/acme/tool:latest AS tool
FROM alpine:3.19
COPY --from=tool /bin/tool /usr/local/bin/
