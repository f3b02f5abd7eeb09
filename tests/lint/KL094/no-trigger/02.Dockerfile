from alpine:3.19
run echo hi
