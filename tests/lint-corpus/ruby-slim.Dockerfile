FROM ruby:3.3-slim
RUN gem install --no-document rake:13.1.0 && rm -rf /usr/local/bundle/cache
WORKDIR /app
COPY . .
CMD ["rake"]
