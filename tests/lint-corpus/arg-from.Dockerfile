ARG NODE_VERSION=20.11
ARG BASE_IMAGE=node:${NODE_VERSION}-alpine
FROM ${BASE_IMAGE} AS deps
WORKDIR /app
COPY package.json yarn.lock ./
RUN yarn install --frozen-lockfile && yarn cache clean

FROM node:${NODE_VERSION}-alpine
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
USER node
CMD ["node", "server.js"]
