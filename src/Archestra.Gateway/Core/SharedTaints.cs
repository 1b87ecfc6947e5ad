using Archestra.Storage;

namespace Archestra.Gateway.Core;

/// <summary>
/// Session trust shared by the replicas of one PostgreSQL. Any replica resumes a session (its id is signed), so a taint
/// kept only in one process would let the session's next call on another replica run as trusted. A replica that taints a
/// session records it before the client sees the result; a replica about to allow a call that the session's taint would
/// refuse reads the record first. Only those calls pay the read; without a shared database there is none (null).
/// </summary>
internal sealed class SharedTaints(ArchestraStore store)
{
    /// <summary>How long a record is kept: as long as a session id can be resumed, plus a margin for clock skew.</summary>
    private static readonly TimeSpan Keep = TimeSpan.FromHours(25);

    public Task RecordAsync(byte[] session, string taintedBy, CancellationToken cancellationToken)
    {
        var now = DateTime.UtcNow;
        return store.SessionTaints.RecordAsync(session, taintedBy, now, now + Keep, cancellationToken);
    }

    /// <summary>The tool whose result tainted the session on some replica; null when none did. Throws when it cannot tell.</summary>
    public Task<string?> FindAsync(byte[] session, CancellationToken cancellationToken) =>
        store.SessionTaints.FindAsync(session, DateTime.UtcNow, cancellationToken);
}
