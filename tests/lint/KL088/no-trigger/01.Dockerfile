FROM alpine:3.19
ENV APP_HOME=/opt/app
ENV APP_BIN=$APP_HOME/bin PATH=/opt/app/bin:$PATH
