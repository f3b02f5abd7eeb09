FROM openjdk:17-slim
ENV JAVA_OPTS="-Xmx512m" APP_HOME=/opt/app APP_LIB=$APP_HOME/lib
ENV PATH=$APP_HOME/bin:$PATH
COPY build/libs /opt/app/lib
CMD ["sh", "-c", "exec java $JAVA_OPTS -jar /opt/app/lib/app.jar"]
