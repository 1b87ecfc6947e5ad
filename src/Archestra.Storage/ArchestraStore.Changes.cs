namespace Archestra.Storage;

/// <summary>
/// A change another process committed: the admin change log's resource kind, or null when anything may have changed
/// (the listener has just started listening, or reconnected).
/// </summary>
public readonly record struct StoreChange(string? Kind);

/// <summary>
/// Replicas on one PostgreSQL learn each other's admin changes through LISTEN/NOTIFY: every change transaction
/// notifies <see cref="ChangeChannel"/> (delivered at commit, never for a rolled-back change) with the writer's
/// <see cref="Origin"/> and the resource kind, and <see cref="ListenAsync"/> hands the other processes' changes to the
/// gateway. The embedded SQLite file has one process, so it has nothing to announce.
/// </summary>
public abstract partial class ArchestraStore
{
    /// <summary>The PostgreSQL notification channel of admin changes.</summary>
    public const string ChangeChannel = "archestra_changes";

    /// <summary>This process's id in change notifications: its own changes are applied when made, not again when heard.</summary>
    public string Origin { get; } = Guid.NewGuid().ToString("N");

    /// <summary>
    /// Calls <paramref name="onChange"/> for each change another process commits, one at a time, until
    /// <paramref name="cancellationToken"/> is cancelled. Each time it starts listening (first, and after a lost
    /// connection came back, with backoff) it reports a <see cref="StoreChange"/> with a null kind: changes committed
    /// before were not heard.
    /// Returns at once for a store with one process (SQLite).
    /// </summary>
    public virtual Task ListenAsync(Func<StoreChange, Task> onChange, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Announces <paramref name="kind"/> to the other processes when <paramref name="tx"/> commits.</summary>
    private protected virtual Task NotifyAsync(StoreTransaction tx, string kind, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The notification payload: origin, a colon, the kind.</summary>
    internal string ChangePayload(string kind) => Origin + ":" + kind;

    /// <summary>The kind of another process's notification; null for this process's own or a payload it did not write.</summary>
    internal static bool TryReadPayload(string payload, string origin, out string? kind)
    {
        kind = null;
        var colon = payload.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || payload.AsSpan(0, colon).SequenceEqual(origin))
        {
            return false;
        }

        kind = payload[(colon + 1)..];
        return kind.Length > 0;
    }
}
