using Archestra.Runtime.Http;
using Archestra.Runtime.Stdio;
using Microsoft.Extensions.Logging;

namespace Archestra.Runtime.Upstreams;

/// <summary>Creates the transport an upstream's options describe.</summary>
public static class UpstreamFactory
{
    public static McpUpstream Create(UpstreamOptions options, IUpstreamListener listener, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(listener);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        return options switch
        {
            StdioUpstreamOptions stdio => new StdioUpstream(stdio, listener, loggerFactory.CreateLogger<StdioUpstream>()),
            HttpUpstreamOptions { Transport: HttpUpstreamTransport.Sse } sse => new LegacySseUpstream(
                sse,
                listener,
                loggerFactory.CreateLogger<LegacySseUpstream>()
            ),
            HttpUpstreamOptions http => new StreamableHttpUpstream(http, listener, loggerFactory.CreateLogger<StreamableHttpUpstream>()),
            _ => throw new ArgumentException($"unknown upstream options type {options.GetType().Name}", nameof(options)),
        };
    }
}
