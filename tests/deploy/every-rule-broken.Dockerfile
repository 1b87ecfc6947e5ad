# Breaks each rule of scripts/dockerfile-lint.py once; scripts/aot-smoke.sh checks that every rule fails on it.
FROM mcr.microsoft.com/dotnet/sdk:9.0 AS build
FROM ubuntu AS build
ADD https://x /y
RUN apt-get update && apt-get install clang
RUN cd /src && sudo make
WORKDIR src
EXPOSE http
COPY --from=later /x /y
FOO bar
USER root
RUN true
ENTRYPOINT archestra serve
