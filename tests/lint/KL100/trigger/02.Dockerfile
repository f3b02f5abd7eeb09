FROM alpine:3.19
ENV DB_PASSWORD=changeme
