FROM alpine:3.19
ENV APP_HOME=/opt/app APP_BIN=$APP_HOME/bin
