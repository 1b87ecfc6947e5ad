using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Archestra.Fixture.Mcp;

/// <summary>
/// One client's view of the fixture: its resource subscriptions, the log level it chose, and
/// the root server used for messages that belong to no request (list changes, resource updates).
/// </summary>
internal sealed partial class FixtureSession(FixtureCatalog catalog, ILogger logger)
{
    private readonly ConcurrentDictionary<string, byte> _subscriptions = new(StringComparer.Ordinal);
    private McpServer? _server;

    public FixtureCatalog Catalog { get; } = catalog;

    /// <summary>Null until the client sends logging/setLevel; then messages below it are dropped.</summary>
    public LoggingLevel? LogLevel { get; set; }

    public void Attach(McpServer server)
    {
        _server = server;
        Catalog.Add(this);
    }

    public void Detach()
    {
        Catalog.Remove(this);
        _server = null;
    }

    public void Subscribe(string uri) => _subscriptions.TryAdd(uri, 0);

    public void Unsubscribe(string uri) => _subscriptions.TryRemove(uri, out _);

    public bool ShouldLog(LoggingLevel level) => LogLevel is not { } threshold || level >= threshold;

    public Task NotifyAsync(string method, CancellationToken cancellationToken) =>
        SendBestEffortAsync(server => server.SendNotificationAsync(method, cancellationToken), method);

    public Task NotifyResourceUpdatedAsync(string uri, CancellationToken cancellationToken)
    {
        if (!_subscriptions.ContainsKey(uri))
        {
            return Task.CompletedTask;
        }

        var parameters = new ResourceUpdatedNotificationParams { Uri = uri };
        return SendBestEffortAsync(
            server => server.SendNotificationAsync(NotificationMethods.ResourceUpdatedNotification, parameters, cancellationToken: cancellationToken),
            NotificationMethods.ResourceUpdatedNotification
        );
    }

    // Unsolicited messages travel on the client's optional GET stream; a client that never opened
    // one, or a session that is closing, must not fail the request that caused the change.
    private async Task SendBestEffortAsync(Func<McpServer, Task> send, string method)
    {
        if (_server is not { } server)
        {
            return;
        }

        try
        {
            await send(server).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException or IOException or OperationCanceledException)
        {
            LogNotificationDropped(logger, method, ex.Message);
        }
    }

    [LoggerMessage(Level = Microsoft.Extensions.Logging.LogLevel.Debug, Message = "Dropped {Method}: {Reason}")]
    private static partial void LogNotificationDropped(ILogger logger, string method, string reason);
}
