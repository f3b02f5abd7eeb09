FROM busybox:test
ONBUILD COPY trigger.txt /from-trigger/
ONBUILD ENV TRIGGERED=yes
ONBUILD LABEL trig=1
ONBUILD WORKDIR /trig
LABEL parent=yes
