from golang:1.22 AS build
run go version
