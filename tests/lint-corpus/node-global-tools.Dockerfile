FROM node:lts
RUN npm install -g pm2 typescript@5.4.5
RUN yarn global add serve
WORKDIR /app
COPY . /app
RUN yarn install && yarn build
USER node
CMD ["pm2-runtime", "dist/index.js"]
