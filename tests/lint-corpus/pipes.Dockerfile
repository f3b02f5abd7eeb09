FROM debian:12
RUN curl -sSL https://example.com/key.gpg | gpg --dearmor -o /usr/share/keyrings/example.gpg
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN curl -sSL https://example.com/archive.tar.gz | tar -xz -C /opt
RUN wget -O - https://example.com/install.sh | bash
