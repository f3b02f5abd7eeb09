FROM alpine:3.19
RUN apk update
RUN apk add curl jq bash
RUN apk add --no-cache --virtual .build-deps gcc=13.2.1_git20231014-r0 musl-dev=1.2.4_git20230717-r4 \
    && apk del .build-deps
COPY scripts/ /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/run.sh"]
