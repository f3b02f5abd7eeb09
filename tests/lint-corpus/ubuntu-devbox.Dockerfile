FROM ubuntu:22.04
RUN apt-get update
RUN apt-get install -y build-essential git curl vim
RUN apt-get upgrade -y
RUN curl -fsSL https://deb.nodesource.com/setup_20.x | bash -
RUN apt-get install -y nodejs
RUN useradd -m dev
USER dev
WORKDIR /home/dev
