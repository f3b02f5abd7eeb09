FROM alpine:3.19
RUN git clone https://deploy:s3cr3tpass@git.example.com/app.git /src
