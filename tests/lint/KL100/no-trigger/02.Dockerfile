FROM alpine:3.19
RUN --mount=type=secret,id=npm_token,env=NPM_TOKEN npm ci
