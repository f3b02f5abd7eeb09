FROM debian:12
RUN ln -sf /bin/bash /bin/sh
RUN cd /usr/src && make && make install
WORKDIR /srv
CMD ./start.sh --port 8080
