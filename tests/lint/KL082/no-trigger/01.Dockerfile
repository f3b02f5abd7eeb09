FROM alpine:3.19
ENTRYPOINT ["a"]
CMD ["b"]
