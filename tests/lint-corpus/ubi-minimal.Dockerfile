FROM registry.access.redhat.com/ubi9/ubi-minimal:9.3
RUN microdnf install -y shadow-utils tar gzip && microdnf clean all
RUN microdnf install -y java-17-openjdk-headless
COPY target/app.jar /deployments/app.jar
USER 1001
CMD ["java", "-jar", "/deployments/app.jar"]
