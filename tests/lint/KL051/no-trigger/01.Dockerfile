FROM alpine:3.19
WORKDIR /tmp
RUN wget -q https://example.com/x.tgz
