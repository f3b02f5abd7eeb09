FROM alpine:3.19
COPY app.sh .
COPY config.yml conf/
WORKDIR /opt/app
COPY lib ./lib
