// TEMPORARY stub until the transports are merged.
using Microsoft.Extensions.Logging;
namespace Archestra.Runtime.Upstreams;
public static class UpstreamFactory
{
    public static McpUpstream Create(UpstreamOptions options, IUpstreamListener listener, ILoggerFactory loggerFactory) => throw new NotSupportedException(options.Name + listener + loggerFactory);
}
