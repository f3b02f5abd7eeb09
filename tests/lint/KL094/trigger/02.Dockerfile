FROM alpine:3.19
Run echo hi
