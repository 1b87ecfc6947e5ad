using System.Collections.Concurrent;
using ModelContextProtocol.Protocol;

namespace Archestra.Fixture.Mcp;

/// <summary>
/// What the fixture offers right now, shared by every session of the process: the optional
/// dynamic tool, resource and prompt, and the watched resource's content. Changes are announced
/// to every live session, because the lists they describe are process-wide.
/// </summary>
internal sealed class FixtureCatalog
{
    private readonly ConcurrentDictionary<FixtureSession, byte> _sessions = new();
    private int _dynamicTool;
    private int _dynamicResource;
    private int _dynamicPrompt;
    private int _watchedVersion;

    public bool DynamicToolEnabled => Volatile.Read(ref _dynamicTool) == 1;

    public bool DynamicResourceEnabled => Volatile.Read(ref _dynamicResource) == 1;

    public bool DynamicPromptEnabled => Volatile.Read(ref _dynamicPrompt) == 1;

    public string WatchedResourceText
    {
        get
        {
            var version = Volatile.Read(ref _watchedVersion);
            return version == 0 ? "Watched resource content" : $"Watched resource content (version {version})";
        }
    }

    public void Add(FixtureSession session) => _sessions.TryAdd(session, 0);

    public void Remove(FixtureSession session) => _sessions.TryRemove(session, out _);

    /// <summary>Flips one dynamic primitive on or off and tells every session its list changed.</summary>
    public async Task<bool> ToggleAsync(DynamicKind kind, CancellationToken cancellationToken)
    {
        var (enabled, method) = kind switch
        {
            DynamicKind.Resource => (Flip(ref _dynamicResource), NotificationMethods.ResourceListChangedNotification),
            DynamicKind.Prompt => (Flip(ref _dynamicPrompt), NotificationMethods.PromptListChangedNotification),
            _ => (Flip(ref _dynamicTool), NotificationMethods.ToolListChangedNotification),
        };

        foreach (var session in _sessions.Keys)
        {
            await session.NotifyAsync(method, cancellationToken).ConfigureAwait(false);
        }

        return enabled;
    }

    /// <summary>Changes the watched resource and sends resources/updated to the sessions subscribed to it.</summary>
    public async Task<int> UpdateWatchedResourceAsync(CancellationToken cancellationToken)
    {
        var version = Interlocked.Increment(ref _watchedVersion);
        foreach (var session in _sessions.Keys)
        {
            await session.NotifyResourceUpdatedAsync(FixtureUris.WatchedResource, cancellationToken).ConfigureAwait(false);
        }

        return version;
    }

    private static bool Flip(ref int flag)
    {
        int current;
        do
        {
            current = Volatile.Read(ref flag);
        } while (Interlocked.CompareExchange(ref flag, 1 - current, current) != current);

        return current == 0;
    }
}

internal enum DynamicKind
{
    Tool,
    Resource,
    Prompt,
}
