FROM node:20-alpine
RUN npm install -g typescript && npm cache clean --force
