FROM node:20-alpine
RUN npm install && npm cache clean --force
