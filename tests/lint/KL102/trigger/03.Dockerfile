FROM scratch
ENV PATH=/bin:$PATH
