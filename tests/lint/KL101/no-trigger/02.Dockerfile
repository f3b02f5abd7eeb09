FROM alpine:3.19
LABEL org.opencontainers.image.source=https://github.com/acme/app
