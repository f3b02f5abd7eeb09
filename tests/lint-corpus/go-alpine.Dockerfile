FROM golang:alpine AS build
RUN apk add --no-cache git make
WORKDIR /go/src/app
COPY . .
RUN make build

FROM alpine
RUN apk add --update ca-certificates
COPY --from=build /go/src/app/bin/app /usr/local/bin/app
ENTRYPOINT /usr/local/bin/app
