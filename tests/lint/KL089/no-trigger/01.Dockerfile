FROM alpine:3.19
ENV LANG=C.UTF-8
LABEL version=1.0
