FROM alpine:3.19
run echo hi
RUN echo there
RUN echo again
