FROM alpine:3.19
RUN mkdir /data
WORKDIR /data
RUN touch x
