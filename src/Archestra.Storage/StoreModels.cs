using System.Security.Cryptography;
using System.Text;

namespace Archestra.Storage;

public enum StorageDialect
{
    Sqlite,
    Postgres,
}

/// <summary>Who owns a resource row: the declarative file (read-only through the API) or the admin API.</summary>
public enum ManagedBy
{
    File,
    Api,
}

/// <summary>One row of <c>archestra_schema</c>.</summary>
public sealed record AppliedMigration(int Version, string Name, DateTime AppliedAt);

/// <summary>Filters and paging shared by the audit lists. Times are UTC; <see cref="From"/> inclusive, <see cref="To"/> exclusive.</summary>
public abstract record AuditQuery
{
    /// <summary>The most rows one page may return.</summary>
    public const int MaxLimit = 1_000;

    public DateTime? From { get; init; }

    public DateTime? To { get; init; }

    public string? Profile { get; init; }

    /// <summary>Rows whose <c>X-Archestra-Agent-Id</c> was this value.</summary>
    public string? AgentId { get; init; }

    /// <summary>Rows whose <c>X-Archestra-Session-Id</c> was this value.</summary>
    public string? AgentSessionId { get; init; }

    /// <summary>Newest first by default.</summary>
    public bool Descending { get; init; } = true;

    /// <summary>Rows per page, 1 to <see cref="MaxLimit"/>.</summary>
    public int Limit { get; init; } = 100;

    /// <summary>The previous page's <see cref="AuditPage{T}.NextCursor"/>; null for the first page.</summary>
    public string? Cursor { get; init; }
}

public sealed record ToolCallQuery : AuditQuery
{
    public string? Server { get; init; }

    public string? Tool { get; init; }

    public string? Outcome { get; init; }
}

public sealed record LlmInteractionQuery : AuditQuery
{
    public string? Provider { get; init; }

    /// <summary>Matches the requested or the used model.</summary>
    public string? Model { get; init; }

    public string? Status { get; init; }
}

/// <summary>One page of an audit list; <see cref="NextCursor"/> is null on the last page.</summary>
public sealed record AuditPage<T>(IReadOnlyList<T> Items, string? NextCursor);

/// <summary>LLM usage of one profile and model on one UTC day; <see cref="Cost"/> sums the priced interactions (unpriced ones add nothing).</summary>
public sealed record UsageRow(
    DateTime Day,
    string Profile,
    string Model,
    long Requests,
    long InputTokens,
    long OutputTokens,
    long CachedInputTokens,
    long ReasoningTokens,
    decimal Cost
);

public sealed record ProfileRow(Guid Id, string Name, string? Description, string SettingsJson, ManagedBy ManagedBy, DateTime CreatedAt, DateTime UpdatedAt);

/// <summary>A gateway token as stored: only its SHA-256 (<see cref="SecretHash"/>); <see cref="ProfileName"/> when listed.</summary>
public sealed record GatewayTokenRow(
    Guid Id,
    string Name,
    byte[] TokenHash,
    Guid? ProfileId,
    ManagedBy ManagedBy,
    DateTime CreatedAt,
    DateTime? LastUsedAt,
    string? ProfileName = null
);

public sealed record AdminKeyRow(Guid Id, string Name, byte[] KeyHash, bool ReadWrite, ManagedBy ManagedBy, DateTime CreatedAt, DateTime? LastUsedAt);

/// <summary>An LLM provider; <see cref="SettingsJson"/> holds <c>keyOrder</c> and the file's timeout and resilience fields.</summary>
public sealed record LlmProviderRow(
    Guid Id,
    string Name,
    string Kind,
    string? BaseUrl,
    ManagedBy ManagedBy,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    string SettingsJson = "{}"
);

/// <summary>One entry of the admin change log.</summary>
public sealed record AdminChange(Guid Id, DateTime Time, string Actor, string Action, string ResourceKind, string ResourceId, string DetailsJson);

/// <summary>Hashes for tokens and admin keys: SHA-256 of the UTF-8 secret (high-entropy random secrets need no slow hash).</summary>
public static class SecretHash
{
    public static byte[] Compute(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    /// <summary>
    /// Checks a presented secret (a gateway token, a virtual key) in constant time: it is hashed with SHA-256 and
    /// compared with every hash with <see cref="CryptographicOperations.FixedTimeEquals"/>, without an early exit, so
    /// timing reveals neither the secret nor which one matched. Allocation-free up to 256 characters.
    /// </summary>
    public static bool MatchesAny(ReadOnlySpan<char> secret, byte[][] hashes)
    {
        if (secret.IsEmpty || secret.Length > 4096)
        {
            return false;
        }

        Span<byte> utf8 = secret.Length <= 256 ? stackalloc byte[secret.Length * 3] : new byte[secret.Length * 3];
        var n = Encoding.UTF8.GetBytes(secret, utf8);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(utf8[..n], hash);
        var ok = false;
        foreach (var expected in hashes)
        {
            ok |= CryptographicOperations.FixedTimeEquals(hash, expected);
        }

        return ok;
    }
}
