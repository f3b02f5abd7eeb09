FROM node:20-alpine
RUN npm install -g typescript@5.4.5 @angular/cli@17.3.0 && npm cache clean --force
