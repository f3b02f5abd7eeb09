FROM debian:bullseye
ENV LANG C.UTF-8
RUN apt-get update && apt-get install -y --no-install-recommends \
      python3 \
      python3-pip=20.3.4-4 \
      locales \
    && apt-get clean
RUN sed -i 's/# en_US.UTF-8/en_US.UTF-8/' /etc/locale.gen && locale-gen
WORKDIR /opt
RUN cd /opt && git clone https://github.com/example/tool.git
CMD ["/bin/bash"]
