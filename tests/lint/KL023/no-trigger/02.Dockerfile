FROM registry.access.redhat.com/ubi9/ubi-minimal:9.3
RUN microdnf install nginx-1.24.0 && microdnf clean all
