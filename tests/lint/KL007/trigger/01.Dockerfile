FROM debian:12-slim
RUN apt-get update
RUN apt-get install -y --no-install-recommends git=1:2.39.2-1
