FROM ruby:3.3-slim
RUN gem install --no-document bundler && rm -rf /usr/local/bundle/cache
