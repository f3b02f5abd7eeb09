FROM debian:12-slim
RUN apt-cache policy git
