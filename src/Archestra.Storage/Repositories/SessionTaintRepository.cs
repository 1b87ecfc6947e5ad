namespace Archestra.Storage;

/// <summary>
/// <c>session_taints</c>: the MCP sessions untrusted data entered, keyed by the SHA-256 of the session id. Session ids
/// are signed, so any replica resumes a session; this table is how each replica learns that the session it serves was
/// tainted on another.
/// </summary>
public sealed class SessionTaintRepository
{
    private readonly ArchestraStore _store;

    internal SessionTaintRepository(ArchestraStore store) => _store = store;

    /// <summary>
    /// Records that <paramref name="session"/> is untrusted since a result of <paramref name="taintedBy"/>; the first record
    /// stays (a session is tainted once). Rows past their expiry are deleted in the same transaction.
    /// </summary>
    public Task RecordAsync(byte[] session, string taintedBy, DateTime now, DateTime expiresAt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        return _store.TransactAsync(
            async tx =>
            {
                await tx.ExecuteAsync("DELETE FROM session_taints WHERE expires_at < @now", cancellationToken, ("now", now)).ConfigureAwait(false);
                await tx.ExecuteAsync(
                        "INSERT INTO session_taints (session, tainted_by, time, expires_at) VALUES (@session, @by, @now, @expires) "
                            + "ON CONFLICT (session) DO NOTHING",
                        cancellationToken,
                        ("session", session),
                        ("by", taintedBy),
                        ("now", now),
                        ("expires", expiresAt)
                    )
                    .ConfigureAwait(false);
            },
            null,
            cancellationToken
        );
    }

    /// <summary>The tool whose result tainted <paramref name="session"/>; null when no replica recorded a taint.</summary>
    public async Task<string?> FindAsync(byte[] session, DateTime now, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        var rows = await _store
            .QueryAsync(
                "SELECT tainted_by FROM session_taints WHERE session = @session AND expires_at >= @now",
                static r => r.String(0),
                cancellationToken,
                ("session", session),
                ("now", now)
            )
            .ConfigureAwait(false);
        return rows.Count > 0 ? rows[0] : null;
    }
}
