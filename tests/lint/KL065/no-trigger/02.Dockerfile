FROM debian:12 AS build
USER root
FROM debian:12
USER nobody
