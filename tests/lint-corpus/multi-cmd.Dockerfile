FROM busybox:1.36
CMD ["echo", "first"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo", "second"]
ENTRYPOINT ["/bin/echo"]
HEALTHCHECK --interval=30s CMD ["true"]
HEALTHCHECK NONE
