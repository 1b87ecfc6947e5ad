using System.Collections.Concurrent;
using Archestra.Storage;

namespace Archestra.Gateway.Core;

/// <summary>
/// Which approval <c>requestState</c>s have been answered, by their nonce: a state is answered once, so one approval
/// lets exactly one call through. The gateway records them in its database (shared by replicas on PostgreSQL); a
/// gateway without storage keeps them in memory.
/// </summary>
internal abstract class SpentStates
{
    /// <summary>True the first time <paramref name="nonce"/> is spent, false for a replay. Throws when it cannot tell.</summary>
    public abstract Task<bool> TrySpendAsync(byte[] nonce, DateTimeOffset expires, CancellationToken cancellationToken);
}

/// <summary>The database's <c>spent_request_states</c>: a replay is refused on every replica of the database.</summary>
internal sealed class StoredSpentStates(ArchestraStore store) : SpentStates
{
    public override Task<bool> TrySpendAsync(byte[] nonce, DateTimeOffset expires, CancellationToken cancellationToken) =>
        store.SpentStates.TrySpendAsync(nonce, expires.UtcDateTime, DateTime.UtcNow, cancellationToken);
}

/// <summary>This process's memory, for gateways without storage (the bridge has no approvals; some tests).</summary>
internal sealed class LocalSpentStates : SpentStates
{
    private readonly ConcurrentDictionary<string, DateTimeOffset> _spent = new(StringComparer.Ordinal);

    public override Task<bool> TrySpendAsync(byte[] nonce, DateTimeOffset expires, CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow;
        if (_spent.Count > 1024)
        {
            foreach (var (key, until) in _spent)
            {
                if (until + SpentStateRepository.ClockSkewMargin < now)
                {
                    _spent.TryRemove(key, out _);
                }
            }
        }

        return Task.FromResult(_spent.TryAdd(Convert.ToBase64String(nonce), expires));
    }
}
