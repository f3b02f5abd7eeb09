FROM --platform=linux/amd64 ubuntu:22.04 AS amd
RUN uname -m

FROM --platform=$BUILDPLATFORM alpine:3.19 AS helper
RUN echo helper

FROM alpine:3.19
COPY --from=amd /bin/true /opt/true
