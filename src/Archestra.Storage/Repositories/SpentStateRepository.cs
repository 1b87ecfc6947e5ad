namespace Archestra.Storage;

/// <summary>
/// <c>spent_request_states</c>: the nonces of approval <c>requestState</c>s that were answered. A state is MACed, so any
/// replica sharing the session key accepts it; this table is what makes it answerable once across all of them.
/// </summary>
public sealed class SpentStateRepository
{
    /// <summary>How long a row outlives its state: replicas whose clocks disagree by less than this still refuse the replay.</summary>
    public static readonly TimeSpan ClockSkewMargin = TimeSpan.FromMinutes(5);

    private readonly ArchestraStore _store;

    internal SpentStateRepository(ArchestraStore store) => _store = store;

    /// <summary>
    /// Records <paramref name="nonce"/> as spent. True the first time, false for every later one (the replay). Rows
    /// that expired more than <see cref="ClockSkewMargin"/> ago are deleted in the same transaction.
    /// </summary>
    public async Task<bool> TrySpendAsync(byte[] nonce, DateTime expiresAt, DateTime now, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(nonce);
        var first = false;
        await _store
            .TransactAsync(
                async tx =>
                {
                    await tx.ExecuteAsync("DELETE FROM spent_request_states WHERE expires_at < @cutoff", cancellationToken, ("cutoff", now - ClockSkewMargin))
                        .ConfigureAwait(false);
                    first =
                        await tx.ExecuteAsync(
                                "INSERT INTO spent_request_states (nonce, expires_at) VALUES (@nonce, @expires) ON CONFLICT (nonce) DO NOTHING",
                                cancellationToken,
                                ("nonce", nonce),
                                ("expires", expiresAt)
                            )
                            .ConfigureAwait(false) == 1;
                },
                null,
                cancellationToken
            )
            .ConfigureAwait(false);
        return first;
    }
}
