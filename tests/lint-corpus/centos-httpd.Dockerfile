FROM centos:7
RUN yum -y update
RUN yum install -y httpd mod_ssl && yum clean all
RUN yum install php
COPY index.php /var/www/html/
EXPOSE 80
CMD ["/usr/sbin/httpd", "-D", "FOREGROUND"]
