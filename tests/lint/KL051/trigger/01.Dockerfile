FROM alpine:3.19
RUN cd /tmp && wget -q https://example.com/x.tgz
