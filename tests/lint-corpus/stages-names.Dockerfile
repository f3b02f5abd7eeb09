FROM alpine:3.19 AS base
RUN echo base > /base.txt

FROM alpine:3.19 AS base
RUN echo again > /again.txt

FROM scratch
COPY --from=base /again.txt /
COPY --from=bulder /base.txt /
COPY --from=0 /base.txt /first.txt
