FROM alpine:3.19
CMD node server.js
