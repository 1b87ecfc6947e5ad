using Archestra.Fixture.Mcp;
using ModelContextProtocol.Server;

namespace Archestra.Fixture.Http;

/// <summary>One Mcp-Session-Id: the SDK transport and server behind it, and the task running them.</summary>
internal sealed class HttpSession(string id, StreamableHttpServerTransport transport, McpServer server, FixtureSession fixture) : IAsyncDisposable
{
    private int _getStarted;

    public string Id { get; } = id;

    public StreamableHttpServerTransport Transport { get; } = transport;

    public Task RunTask { get; set; } = Task.CompletedTask;

    /// <summary>The SDK transport serves one standalone GET stream per session; later ones resume by Last-Event-ID.</summary>
    public bool TryStartGet() => Interlocked.Exchange(ref _getStarted, 1) == 0;

    public async ValueTask DisposeAsync()
    {
        fixture.Detach();
        await Transport.DisposeAsync().ConfigureAwait(false);
        await server.DisposeAsync().ConfigureAwait(false);
        try
        {
            await RunTask.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Disposing the transport ends RunAsync this way; the session is over either way.
        }
    }
}
