FROM --platform=$BUILDPLATFORM golang:1.22-alpine AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
COPY . .
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/tool .

FROM alpine:3.19
RUN apk add --no-cache ca-certificates=20240226-r0
COPY --from=build /out/tool /usr/bin/tool
ENTRYPOINT ["/usr/bin/tool"]
