ARG VERSION=1.0
FROM alpine:3.19
COPY app-$VERSION.tar.gz /tmp/
