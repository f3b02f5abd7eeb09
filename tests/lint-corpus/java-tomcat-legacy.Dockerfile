FROM tomcat:9
MAINTAINER ops@example.com
ADD target/app.war /usr/local/tomcat/webapps/ROOT.war
ADD https://repo.example.com/libs/driver.jar /usr/local/tomcat/lib/
EXPOSE 8080
CMD ["catalina.sh", "run"]
