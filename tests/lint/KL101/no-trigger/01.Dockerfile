FROM alpine:3.19
ARG REPO=https://git.example.com/app.git
RUN git clone "$REPO" /src
