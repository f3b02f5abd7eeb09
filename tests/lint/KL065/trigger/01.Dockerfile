FROM debian:12-slim
RUN useradd -r app
USER app
USER root
