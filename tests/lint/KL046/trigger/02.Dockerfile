FROM ruby:3.3-slim
COPY Gemfile Gemfile.lock /app/
WORKDIR /app
RUN bundle install
