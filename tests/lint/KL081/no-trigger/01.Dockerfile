FROM alpine:3.19
CMD ["a"]
FROM alpine:3.19
CMD ["b"]
