FROM ubuntu:20.04
RUN apt-get update && apt-get install -y --no-install-recommends sudo=1.8.31-1ubuntu1 && rm -rf /var/lib/apt/lists/*
RUN useradd -m builder && echo "builder ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/builder
USER builder
RUN sudo apt-get update
RUN sudo mkdir -p /opt/data
USER root
