FROM a:1
COPY --from=later /x /y
FROM b:1 AS later
