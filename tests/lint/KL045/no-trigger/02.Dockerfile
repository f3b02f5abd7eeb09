FROM ruby:3.3-slim
RUN gem install --no-document -v 2.5.6 bundler && rm -rf /usr/local/bundle/cache
