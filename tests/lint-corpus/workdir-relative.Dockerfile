FROM node:20.11
WORKDIR app
COPY package.json .
RUN npm install express@4.18.2
WORKDIR /srv
WORKDIR data
CMD ["node", "index.js"]
