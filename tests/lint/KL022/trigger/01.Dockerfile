FROM centos:7
RUN yum install -y httpd-tools && yum clean all
