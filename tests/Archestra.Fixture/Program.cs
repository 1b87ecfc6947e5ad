using Archestra.Fixture.Http;
using Archestra.Fixture.Mcp;
using Microsoft.Extensions.Logging;

switch (args)
{
    case ["--stdio"]:
        // stdout carries the protocol, so every log line goes to stderr.
        using (
            var loggerFactory = LoggerFactory.Create(static b =>
                b.AddConsole(static o => o.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(LogLevel.Warning)
            )
        )
        {
            return await StdioHost.RunAsync(loggerFactory).ConfigureAwait(false);
        }

    case ["--http", var url]:
        return await HttpHost.RunAsync(url).ConfigureAwait(false);

    default:
        await Console.Error.WriteLineAsync("usage: Archestra.Fixture --stdio | --http http://127.0.0.1:PORT").ConfigureAwait(false);
        return 2;
}
