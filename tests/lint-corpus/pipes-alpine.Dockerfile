FROM alpine:3.18
RUN wget -qO- https://example.com/release.tgz | tar xz -C /usr/local/bin
RUN echo "export PATH=$PATH" >> /etc/profile
RUN ls -la | grep bin > /tmp/list
